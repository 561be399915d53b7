// The app the benchmarks run in a worker process: a no-op task that counts completions
// and a latency probe. Prints `bench-ready` once the worker consumes, `bench-done <ms>`
// when BENCH_COUNT no-ops have run.
import { Celeriac } from '../src/index.js';
import { wallClock } from './support.js';

export const app = new Celeriac({ keyPrefix: process.env.BENCH_PREFIX });

const target = Number(process.env.BENCH_COUNT ?? 0);
let done = 0;
let firstAt = 0;

app.task('bench.noop', () => {
  if (done === 0) firstAt = wallClock();
  done++;
  if (done === target) process.stdout.write(`bench-done ${wallClock() - firstAt}\n`);
  return null;
});

app.task('bench.latency', (sentAt: number) => wallClock() - sentAt);

// The worker logs its ready line on stderr; the bench reads stdout, so say it there too.
setTimeout(function announce() {
  void app.broker().then(() => process.stdout.write('bench-ready\n'));
}, 0);

export default app;
