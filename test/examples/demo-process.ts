/**
 * Runs the real shop demo (`examples/shop/start.ts`: web server plus worker process) for a
 * test, on a random port and a temp data dir, and always stops it: the demo, its worker
 * and the temp dir are gone when the test ends, pass or fail. Test support only.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningDemo {
  /** `http://localhost:<port>` without a trailing slash. */
  url: string;
  dataDir: string;
  /** Every line the demo printed so far (its own and its worker's). */
  output: string[];
  workerPid: number;
  /** Resolves once the demo has printed a line matching `pattern` (now or later). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stops the demo as Ctrl-C would and resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Stops the demo (and its worker, whatever happened) and deletes its data dir. */
  close(): Promise<void>;
}

/**
 * Starts the demo and resolves once it prints its URL. The caller must `close()` it
 * (in an `afterAll` or `onTestFinished`); a demo that fails to start is closed here.
 */
export async function startDemo(env: Record<string, string> = {}): Promise<RunningDemo> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-shop-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', SHOP_DATA_DIR: dataDir, ...env };
  // The demo must find its database through SHOP_DATA_DIR, not an URL from the caller's shell.
  delete childEnv.CELERIAC_BROKER_URL;
  delete childEnv.CELERIAC_RESULT_BACKEND;
  // `node --import tsx` rather than the tsx CLI: one process to signal, no wrapper between.
  const demo = spawn(process.execPath, ['--import', 'tsx', 'examples/shop/start.ts'], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  const exited = new Promise<number | null>((resolve) =>
    demo.once('exit', (code) => resolve(code)),
  );
  let workerPid = 0;
  const ready = new Promise<string>((resolve, reject) => {
    for (const stream of [demo.stdout, demo.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        for (const waiter of lineWaiters) waiter(line);
        if (process.env.SHOP_TEST_VERBOSE) console.log(line);
        const pid = /worker started \(pid (\d+)\)/.exec(line);
        if (pid) workerPid = Number(pid[1]);
        const url = /open (http:\/\/localhost:\d+)\//.exec(line);
        if (url?.[1]) resolve(url[1]);
      });
    }
    void exited.then((code) =>
      reject(
        new Error(`the demo exited (code ${code}) before printing its URL:\n${output.join('\n')}`),
      ),
    );
  });

  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGINT');
      const timer = setTimeout(() => demo.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    })();
    return stopped;
  };
  const waitForLine = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = output.find((line) => pattern.test(line));
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => {
        lineWaiters.delete(waiter);
        reject(
          new Error(
            `the demo printed no line matching ${pattern} within ${timeoutMs} ms:\n${output.join('\n')}`,
          ),
        );
      }, timeoutMs);
      const waiter = (line: string) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        lineWaiters.delete(waiter);
        resolve(line);
      };
      lineWaiters.add(waiter);
    });

  const close = async () => {
    await stop();
    // Belt and braces: were the demo killed before it could stop its worker, stop it here.
    if (workerPid && isAlive(workerPid)) process.kill(workerPid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  };

  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error(`the demo printed no URL within 20 s:\n${output.join('\n')}`)),
      20_000,
    ).unref(),
  );
  try {
    const url = await Promise.race([ready, timeout]);
    return { url, dataDir, output, workerPid, waitForLine, stop, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Runs the demo where it is expected to exit by itself (a port in use, a bad PORT) and
 * resolves with its exit code and every line it printed; killed after 20 s, its data dir
 * deleted either way.
 */
export async function runDemoToExit(
  env: Record<string, string>,
): Promise<{ code: number | null; output: string[] }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-shop-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, SHOP_DATA_DIR: dataDir, ...env };
  delete childEnv.CELERIAC_BROKER_URL;
  delete childEnv.CELERIAC_RESULT_BACKEND;
  const demo = spawn(process.execPath, ['--import', 'tsx', 'examples/shop/start.ts'], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [demo.stdout, demo.stderr])
    createInterface({ input: stream }).on('line', (line) => output.push(line));
  const timer = setTimeout(() => demo.kill('SIGKILL'), 20_000);
  try {
    // 'close', not 'exit': by then every line the demo printed has been read.
    const [code] = (await once(demo, 'close')) as [number | null];
    return { code, output };
  } finally {
    clearTimeout(timer);
    await rm(dataDir, { recursive: true, force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The order form's fields, with a card number of the caller's choice. */
export function orderFields(cardNumber = '4242 4242 4242 4242'): Record<string, string | number> {
  return {
    sku: 'soup-kit',
    quantity: 2,
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    cardNumber,
  };
}
