/**
 * Runs `bin/celeriac.js` as a user does, with stdout and stderr kept apart (scripts read the
 * one, people the other) and optional input on stdin. Every process started here is killed
 * by `stopCliProcesses` (call it in afterEach); workers come from test/support/worker-process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, ROOT } from '../support/worker-process.js';

export const APP = 'test/cli/fixtures/app.ts';

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with stderr's text once it matches `pattern`; rejects if the process ends first. */
  waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

export function startCli(args: string[], env: Record<string, string>, input?: string): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  if (input !== undefined) child.stdin?.end(input);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const listener of listeners) listener();
  });
  const exited = once(child, 'close').then(() => {
    running.delete(child);
    for (const listener of listeners) listener();
    return child.exitCode;
  });
  const waitForStderr = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`timed out waiting for ${pattern} on stderr:\n${err}`)),
        timeoutMs,
      );
      const done = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve(err);
      };
      const check = () => {
        if (pattern.test(err)) done();
        else if (!running.has(child))
          done(new Error(`process ended before ${pattern} on stderr:\n${err}\nstdout:\n${out}`));
      };
      listeners.add(check);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitForStderr, exited };
}

/** Runs a command to its end. */
export async function runToEnd(
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env, input);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

export async function stopCliProcesses(): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(
    children
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => once(child, 'close')),
  );
}

/** A temporary directory removed by `removeTempDirs`. */
const dirs: string[] = [];
export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `celeriac-cli-${label}-`));
  dirs.push(dir);
  return dir;
}
export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Env for an app on a fresh SQLite file (broker and backend). */
export function sqliteEnv(label: string): { env: Record<string, string>; dir: string } {
  const dir = tempDir(label);
  return {
    dir,
    env: { CELERIAC_BROKER_URL: `sqlite://${path.join(dir, 'cli.db')}`, TEST_GATE_DIR: dir },
  };
}
