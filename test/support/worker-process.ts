/**
 * Spawns real `celeriac worker` processes for integration tests and waits for their
 * ready line. Kills every process it started when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/celeriac.js');

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  exited: Promise<number | null>;
}

const started = new Set<ChildProcess>();

export function runCli(args: string[], env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code]) => {
    started.delete(child);
    for (const listener of listeners) listener();
    return code as number | null;
  });
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(text);
        if (match) {
          cleanup();
          resolve(match[0]);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          cleanup();
          reject(new Error(`process exited before ${pattern}: ${text}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { child, output: () => text, waitFor, exited };
}

/**
 * How long a worker may take to say it is ready. It says so in about two seconds on an idle
 * machine; on a loaded one (load average over 20 on two cores) loading tsx and the app has
 * taken over 20 s. The wait ends on the line, so a generous bound costs nothing when it comes.
 */
export const READY_TIMEOUT_MS = 60_000;

export async function startWorker(
  appModule: string,
  env: Record<string, string>,
  flags: string[] = [],
  readyTimeoutMs = READY_TIMEOUT_MS,
): Promise<WorkerProcess> {
  const worker = runCli(['-A', appModule, 'worker', '-l', 'info', ...flags], env);
  await worker.waitFor(/ready: queues=/, readyTimeoutMs);
  return worker;
}

/** Kills every process this module started; call in afterEach. */
export async function killAll(): Promise<void> {
  await killChildren([...started]);
}

/**
 * Kills these processes only: for tests that run side by side in one file, where killAll
 * would also stop the processes of the tests still running.
 */
export async function killProcesses(processes: Iterable<WorkerProcess>): Promise<void> {
  await killChildren([...processes].map((p) => p.child));
}

async function killChildren(children: ChildProcess[]): Promise<void> {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(running.map((child) => once(child, 'exit')));
}
