/**
 * `npm run demo`: starts the shop's web server and, once it listens, one worker process
 * (running beat too) beside it, both on the embedded SQLite broker, prints the URL to open,
 * and on Ctrl-C stops both cleanly. A port it cannot listen on is one plain line and exit 1.
 * Environment: PORT (default 3000; 0 picks a free port, and the real one is printed),
 * SHOP_DATA_DIR (database, receipts and outbox; default ./celeriac.db, and receipts/ and
 * outbox/ beside this file).
 * It must never leave the worker running after it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { outboxDir, receiptsDir } from './config.js';
import { createShopServer } from './server.js';
import { app } from './tasks.js';

const STOP_DEADLINE_MS = 15_000;
const say = (line: string) => console.log(`shop   | ${line}`);

const port = portFromEnv(process.env.PORT);
await mkdir(receiptsDir, { recursive: true });
await mkdir(outboxDir, { recursive: true });

let worker: ChildProcess | undefined;
// http.createServer rather than Express's listen(), which calls its callback on errors too.
const server = createServer(createShopServer(say));
server.on('error', (error: NodeJS.ErrnoException) => {
  say(listenFailure(error));
  void stop(1);
});
server.listen(port, () => {
  const { port: actual } = server.address() as AddressInfo;
  // The worker starts only once the page can be served: a port in use starts nothing.
  worker = startWorker();
  say(
    `Celeriac shop demo: open http://localhost:${actual}/ (Ctrl-C stops the web server and the worker)`,
  );
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // npm, tsx and the terminal may each pass on one Ctrl-C: only the first one counts.
  process.on(signal, () => void stop(0));
}
// Last resort, e.g. after an uncaught error: the worker must not outlive us.
process.on('exit', () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
});

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 3000;
  const number = Number(value);
  if (Number.isInteger(number) && number >= 0 && number <= 65535) return number;
  say(`PORT must be a port number from 0 to 65535 (0 picks a free one), not "${value}"`);
  process.exit(1);
}

function listenFailure(error: NodeJS.ErrnoException): string {
  const next = port === 65535 ? 3000 : port + 1;
  if (error.code === 'EADDRINUSE')
    return `port ${port} is in use: set PORT=${next} (or PORT=0 for any free port) and start again`;
  if (error.code === 'EACCES')
    return `port ${port} is not open to this user: set PORT=3000 (or PORT=0 for any free port) and start again`;
  return `the web server failed: ${error.message}`;
}

function startWorker(): ChildProcess {
  const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
  const tasks = fileURLToPath(new URL('./tasks.ts', import.meta.url));
  // Its own process group: a Ctrl-C in the terminal reaches only us, and we send the
  // worker exactly one SIGTERM (a second signal would make its shutdown a cold one).
  const child = spawn(process.execPath, [bin, '-A', tasks, 'worker', '-c', '4', '-B'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: process.env,
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream)
      createInterface({ input: stream }).on('line', (line) => console.log(`worker | ${line}`));
  }
  say(
    `worker started (pid ${child.pid}): celeriac -A examples/shop/tasks.ts worker -c 4 -B (with beat)`,
  );
  child.once('exit', (code, signal) => {
    if (stopping) return;
    say(`the worker exited unexpectedly (${signal ?? `code ${code}`}); stopping`);
    void stop(1);
  });
  return child;
}

async function stop(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (worker) say('stopping: the web server closes, the worker finishes its running tasks');
  server.close();
  // Open event streams would hold close() forever; their clients reconnect elsewhere.
  server.closeAllConnections();
  await stopWorker();
  await app.close();
  say('stopped');
  process.exit(exitCode);
}

async function stopWorker(): Promise<void> {
  const child = worker;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const deadline = setTimeout(() => {
    say(`the worker did not stop within ${STOP_DEADLINE_MS / 1000} s; killing it`);
    child.kill('SIGKILL');
  }, STOP_DEADLINE_MS);
  await exited;
  clearTimeout(deadline);
}
