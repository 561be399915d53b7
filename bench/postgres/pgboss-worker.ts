/**
 * The pg-boss side's worker process, so pg-boss runs through one worker process exactly as
 * Celeriac does: BENCH_CONCURRENCY local workers, each fetching up to 10 jobs at a time and
 * fetching again at once while fetches come back full (`burstWhenBatchFull`; with one job per
 * fetch pg-boss waits its polling interval, at least 0.5 s, between fetches even with a
 * backlog, which would measure its poll rather than its speed). Prints `bench-ready`, then `bench-done <ms>` (first no-op start
 * to last) after BENCH_COUNT no-ops. Must never be imported by the bench.
 */
import { PgBoss } from 'pg-boss';
import { wallClock } from '../support.js';

const target = Number(process.env.BENCH_COUNT ?? 0);
let done = 0;
let firstAt = 0;
const boss = new PgBoss({
  connectionString: process.env.BENCH_PG_URL ?? '',
  schema: process.env.BENCH_SCHEMA ?? 'pgboss',
});
boss.on('error', (error: Error) => process.stderr.write(`pg-boss: ${error.message}\n`));
await boss.start();
await boss.work(
  'bench',
  {
    localConcurrency: Number(process.env.BENCH_CONCURRENCY ?? 1),
    batchSize: 10,
    burstWhenBatchFull: true,
    pollingIntervalSeconds: 0.5,
  },
  (jobs) => {
    for (const _job of jobs) {
      if (done === 0) firstAt = wallClock();
      done++;
      if (done === target) process.stdout.write(`bench-done ${wallClock() - firstAt}\n`);
    }
    return Promise.resolve(null);
  },
);
process.stdout.write('bench-ready\n');
process.once('SIGTERM', () => {
  void boss.stop({ graceful: false }).finally(() => process.exit(0));
});
