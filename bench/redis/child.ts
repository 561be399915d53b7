/**
 * Starts a benchmark child process (a Celeriac worker through the CLI, or the BullMQ
 * worker script), waits for its `bench-ready` line and gives its output lines.
 * Must never leave a child running: `stop()` kills it and waits for its exit.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../support.js';

export interface BenchChild {
  lines: AsyncIterable<string>;
  stop: () => Promise<void>;
}

export async function startChild(args: string[], env: Record<string, string>): Promise<BenchChild> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      queue.push(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
    wake?.();
  });
  child.once('exit', () => wake?.());
  const lines: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const line = queue.shift();
        if (line !== undefined) {
          yield line;
          continue;
        }
        if (child.exitCode !== null || child.signalCode !== null) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  for await (const line of lines) if (line.startsWith('bench-ready')) return { lines, stop };
  await stop();
  throw new Error(`${args.join(' ')} exited before it was ready`);
}

export function celeriacWorkerArgs(concurrency: number): string[] {
  return [path.join(ROOT, 'bench/worker-cli.mjs'), '-A', 'bench/bench-app.mjs', 'worker', '-l', 'warning', '-c', String(concurrency)];
}

export function bullmqWorkerArgs(): string[] {
  return ['--import', 'tsx', path.join(ROOT, 'bench/redis/bullmq-worker.ts')];
}
