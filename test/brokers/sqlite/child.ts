/**
 * Spawns a fixture script as a real Node process (`node --import tsx`), collects the JSON
 * lines it prints, and lets a test wait for one. Kills whatever it started at the end of
 * the test. Must never leave a child running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ChildEvent {
  event: string;
  pid: number;
  id?: string;
  redelivered?: boolean;
  at?: number;
  message?: string;
}

export interface Child {
  readonly process: ChildProcess;
  readonly events: ChildEvent[];
  /** Raw stdout and stderr, for failure messages. */
  output(): string;
  waitFor(
    what: string,
    predicate: (events: ChildEvent[]) => boolean,
    timeoutMs?: number,
  ): Promise<void>;
  send(line: string): void;
  readonly exited: Promise<void>;
}

export function startChild(script: string, config: unknown): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, script), JSON.stringify(config)],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const events: ChildEvent[] = [];
  let text = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{')) events.push(JSON.parse(line) as ChildEvent);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = once(child, 'exit').then(() => undefined);
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    process: child,
    events,
    output: () => text,
    async waitFor(what, predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`child exited before ${what}:\n${text}`);
        if (Date.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    send: (line) => child.stdin.write(`${line}\n`),
    exited,
  };
}
