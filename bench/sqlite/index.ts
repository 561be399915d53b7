/**
 * SQLite (the embedded default) benchmark on a file database: enqueue one at a time and in
 * batches, no-op processing through one worker process at concurrency 100 (results stored;
 * the median of BENCH_ROUNDS runs, printed against issue 16's goal of 10,000 tasks/s), at
 * concurrency 1 and 10 with BENCH_FULL=1, and enqueue-to-start latency on an idle worker.
 * Sizes: BENCH_TASKS (20,000), BENCH_SEQUENTIAL (2,000), BENCH_LATENCY_SAMPLES (300).
 * Works in a temp directory it deletes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Celeriac } from '../../src/index.js';
import {
  FULL,
  envCount,
  fmt,
  median,
  nextLine,
  percentile,
  rate,
  row,
  spawnWorker,
  wallClock,
} from '../support.js';

export interface SqliteBenchOptions {
  tasks?: number;
  latencySamples?: number;
  /** Runs of the concurrency-100 measure; the median counts. @default BENCH_ROUNDS or 3 */
  rounds?: number;
}

export async function runSqliteBench(
  options: SqliteBenchOptions = {},
): Promise<Record<string, number>> {
  const tasks = options.tasks ?? envCount('BENCH_TASKS', 20_000);
  const samples = options.latencySamples ?? envCount('BENCH_LATENCY_SAMPLES', 300);
  const rounds = options.rounds ?? envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 3));
  const figures: Record<string, number> = {};
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-bench-'));
  const url = `sqlite://${path.join(dir, 'bench.db')}`;
  const app = new Celeriac({ broker: url });
  const noop = app.signature<[], null>('bench.noop');
  const latency = app.signature<[sentAt: number], number>('bench.latency');
  process.stdout.write(`\nSQLite (${url})\n`);
  try {
    const broker = await app.broker();

    let start = wallClock();
    const sequential = envCount('BENCH_SEQUENTIAL', 2_000);
    for (let i = 0; i < sequential; i++) await noop.delay();
    figures.enqueueSequential = rate(sequential, wallClock() - start);
    row('enqueue, one awaited delay() at a time', `${fmt(figures.enqueueSequential)}/s`);
    await broker.purge('celery');

    start = wallClock();
    for (let i = 0; i < tasks; i += 1000) {
      await app.sendMany(
        Array.from({ length: Math.min(1000, tasks - i) }, () => ({ task: noop, args: [] })),
      );
    }
    figures.enqueueBulk = rate(tasks, wallClock() - start);
    row(`enqueue, sendMany() in batches of 1,000`, `${fmt(figures.enqueueBulk)}/s`);
    await broker.purge('celery');

    /** Tasks a second, and the worker's CPU µs per task over the same span. */
    const processing = async (concurrency: number): Promise<{ perSec: number; cpu: number }> => {
      for (let i = 0; i < tasks; i += 1000) {
        await app.sendMany(
          Array.from({ length: Math.min(1000, tasks - i) }, () => ({ task: noop, args: [] })),
        );
      }
      const worker = await spawnWorker(
        'bench/bench-app.mjs',
        { CELERIAC_BROKER_URL: url, BENCH_COUNT: String(tasks) },
        ['-c', String(concurrency)],
      );
      try {
        const [, ms, cpu] = (await nextLine(worker.lines, 'bench-done')).split(' ').map(Number);
        return { perSec: rate(tasks, ms!), cpu: cpu! / tasks };
      } finally {
        await worker.stop();
        await broker.purge('celery');
      }
    };
    for (const concurrency of FULL ? [1, 10] : []) {
      const { perSec, cpu } = await processing(concurrency);
      figures[`throughputC${concurrency}`] = perSec;
      row(
        `${fmt(tasks)} no-op tasks, one worker, concurrency ${concurrency}`,
        `${fmt(perSec)}/s`,
        `worker ${cpu.toFixed(1)} µs CPU/task`,
      );
    }
    const c100: Array<{ perSec: number; cpu: number }> = [];
    for (let round = 0; round < rounds; round++) c100.push(await processing(100));
    figures.throughputC100 = median(c100.map((r) => r.perSec));
    figures.cpuPerTaskC100 = median(c100.map((r) => r.cpu));
    row(
      `${fmt(tasks)} no-op tasks, one worker, c=100, median of ${rounds}`,
      `${fmt(figures.throughputC100)}/s`,
      `goal >= 10,000/s: ${figures.throughputC100 >= 10_000 ? 'met' : 'short'} (${Math.round(figures.throughputC100 / 100)}% of it); ` +
        `worker ${figures.cpuPerTaskC100.toFixed(1)} µs CPU/task (${fmt(Math.round(1e6 / figures.cpuPerTaskC100))}/s on a free core)`,
    );

    const worker = await spawnWorker('bench/bench-app.mjs', { CELERIAC_BROKER_URL: url }, [
      '-c',
      '10',
    ]);
    const latencies: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const result = await latency.delay(wallClock());
      const ms = await result.get({ timeout: 10 });
      if (i >= 20) latencies.push(ms);
    }
    await worker.stop();
    latencies.sort((a, b) => a - b);
    figures.latencyP50 = percentile(latencies, 50);
    figures.latencyP99 = percentile(latencies, 99);
    row('enqueue-to-start latency, idle worker, p50', `${fmt(figures.latencyP50)} ms`);
    row('enqueue-to-start latency, idle worker, p99', `${fmt(figures.latencyP99)} ms`);
    return figures;
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
