/**
 * SQLite (the embedded default) benchmark: enqueue one at a time and in batches, no-op
 * throughput through one worker process at concurrency 1, 10 and 100, and
 * enqueue-to-start latency on an idle worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Celeriac } from '../../src/index.js';
import { fmt, nextLine, percentile, rate, row, spawnWorker, wallClock } from '../support.js';

export interface SqliteBenchOptions {
  tasks?: number;
  latencySamples?: number;
}

export async function runSqliteBench(
  options: SqliteBenchOptions = {},
): Promise<Record<string, number>> {
  const tasks = options.tasks ?? 20_000;
  const samples = options.latencySamples ?? 300;
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
    const sequential = 2_000;
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

    for (const concurrency of [1, 10, 100]) {
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
      const line = await nextLine(worker.lines, 'bench-done');
      await worker.stop();
      const ms = Number(line.split(' ')[1]);
      figures[`throughputC${concurrency}`] = rate(tasks, ms);
      row(
        `${fmt(tasks)} no-op tasks, one worker, concurrency ${concurrency}`,
        `${fmt(rate(tasks, ms))}/s`,
      );
      await broker.purge('celery');
    }

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
