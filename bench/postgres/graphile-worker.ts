/**
 * The graphile-worker side's worker process, so it runs through one worker process exactly
 * as Celeriac does, at BENCH_CONCURRENCY. Prints `bench-ready`, then `bench-done <ms>`
 * (first no-op start to last) after BENCH_COUNT no-ops. Must never be imported by the bench.
 */
import { Logger, run } from 'graphile-worker';
import { wallClock } from '../support.js';

const target = Number(process.env.BENCH_COUNT ?? 0);
let done = 0;
let firstAt = 0;
const runner = await run({
  connectionString: process.env.BENCH_PG_URL ?? '',
  schema: process.env.BENCH_SCHEMA ?? 'graphile_worker',
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 1),
  noHandleSignals: true,
  // Silent: one log line per job would cost it more than the no-op does.
  logger: new Logger(() => () => undefined),
  taskList: {
    noop: () => {
      if (done === 0) firstAt = wallClock();
      done++;
      if (done === target) process.stdout.write(`bench-done ${wallClock() - firstAt}\n`);
      return Promise.resolve();
    },
  },
});
process.stdout.write('bench-ready\n');
process.once('SIGTERM', () => {
  void runner.stop().finally(() => process.exit(0));
});
