/**
 * End to end through one worker process: N no-op tasks are sent first (timed: the send
 * rate), then one worker starts and the time from its first to its last completed task
 * is measured. Celeriac's worker runs bench/bench-app.mjs; Python Celery's runs
 * pybench.py with its default pool (prefork, one process per core) and with `-P solo`.
 * Both read the same queue layout on the same RabbitMQ; results are not stored by either.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Celeriac } from '../../src/index.js';
import { ROOT, nextLine, serverCpuMicros, spawnWorker, treeCpuMicros } from '../support.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface WorkerFigures {
  sendPerSec: number;
  tasksPerSec: number;
  /** The worker's CPU µs per task (its processes, first task to last), when known. */
  workerCpuPerTask?: number | undefined;
  /** RabbitMQ's CPU µs per task over the same span (beam.smp, when local), when known. */
  brokerCpuPerTask?: number | undefined;
  /** The client's reply queue, declared for rpc:// results: the caller deletes it. */
  replyQueue: string;
}

/** Sends `count` bench.noop tasks to `queue` through the public API; returns tasks/s. */
async function send(
  url: string,
  queue: string,
  count: number,
  keyPrefix?: string,
): Promise<{ perSec: number; app: Celeriac }> {
  const app = new Celeriac({ broker: url, keyPrefix });
  await app.broker();
  const started = performance.now();
  for (let i = 0; i < count; i += 1000) {
    const calls = Array.from({ length: Math.min(1000, count - i) }, () => ({
      task: 'bench.noop',
      args: [],
      options: { queue },
    }));
    await app.sendMany(calls);
  }
  return { perSec: (count / (performance.now() - started)) * 1000, app };
}

export async function measureCeleriacWorker(
  url: string,
  prefix: string,
  count: number,
  concurrency: number,
  prefetchMultiplier: number,
): Promise<WorkerFigures> {
  const { perSec, app } = await send(url, 'celery', count, prefix);
  const worker = await spawnWorker(
    path.join(ROOT, 'bench/bench-app.mjs'),
    { CELERIAC_BROKER_URL: url, BENCH_PREFIX: prefix, BENCH_COUNT: String(count) },
    ['-c', String(concurrency), '--prefetch-multiplier', String(prefetchMultiplier)],
  );
  try {
    const beamBefore = serverCpuMicros('beam.smp');
    const done = await nextLine(worker.lines, 'bench-done');
    const beamAfter = serverCpuMicros('beam.smp');
    const [, ms, cpu] = done.split(' ').map(Number);
    return {
      sendPerSec: perSec,
      tasksPerSec: (count / ms!) * 1000,
      workerCpuPerTask: cpu! / count,
      // From the worker's start, not its first task: RabbitMQ is idle until then.
      brokerCpuPerTask:
        beamBefore === undefined || beamAfter === undefined
          ? undefined
          : (beamAfter - beamBefore) / count,
      replyQueue: app.oid,
    };
  } finally {
    await worker.stop();
    await app.close();
  }
}

export async function measurePythonWorker(
  url: string,
  queue: string,
  count: number,
  pool: 'prefork' | 'solo',
  prefetchMultiplier?: number,
): Promise<WorkerFigures> {
  const { perSec, app } = await send(url, queue, count);
  const child = spawn(
    '/usr/bin/python3',
    [
      ...['-m', 'celery', '-A', 'pybench', 'worker', '-Q', queue, '-P', pool, '-l', 'WARNING'],
      ...['--without-gossip', '--without-mingle', '--without-heartbeat'],
      ...(prefetchMultiplier ? ['--prefetch-multiplier', String(prefetchMultiplier)] : []),
    ],
    {
      cwd: HERE,
      env: { ...process.env, CELERY_BROKER_URL: url },
      // Celery's stderr (its warning about running as root, on CI) is shown only on failure.
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    const times: number[] = [];
    const cpu: Array<number | undefined> = [];
    const beam: Array<number | undefined> = [];
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          if (buffer.slice(0, newline) === 'bench-tick') {
            times.push(performance.now());
            if (times.length === 1 || times.length === count) {
              cpu.push(treeCpuMicros(child.pid!));
              beam.push(serverCpuMicros('beam.smp'));
            }
          }
          buffer = buffer.slice(newline + 1);
        }
        if (times.length >= count) resolve();
      });
      child.once('exit', (code) =>
        reject(
          new Error(
            `the Python worker exited (${code}) after ${times.length} tasks; its stderr:\n${stderr}`,
          ),
        ),
      );
    });
    const ms = times[count - 1]! - times[0]!;
    const delta = (pair: Array<number | undefined>) =>
      pair[0] === undefined || pair[1] === undefined ? undefined : (pair[1] - pair[0]) / count;
    return {
      sendPerSec: perSec,
      tasksPerSec: (count / ms) * 1000,
      workerCpuPerTask: delta(cpu),
      brokerCpuPerTask: delta(beam),
      replyQueue: app.oid,
    };
  } finally {
    child.kill('SIGKILL');
    await app.close();
  }
}
