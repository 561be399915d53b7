// The app the benchmarks run in a worker process: a no-op task that counts completions
// and a latency probe. Prints `bench-ready` once the worker consumes, `bench-done <ms>`
// when BENCH_COUNT no-ops have run.
// Plain JavaScript importing the built package, as a user's compiled app does in
// production: the worker it runs in is the built CLI (bench/worker-cli.mjs), with no
// TypeScript loader in the process.
import { Celeriac } from 'celeriac';

/** Milliseconds since the epoch with sub-millisecond resolution, comparable between processes. */
const wallClock = () => performance.timeOrigin + performance.now();

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

app.task('bench.latency', (sentAt) => wallClock() - sentAt);

// The worker logs its ready line on stderr; the bench reads stdout, so say it there too.
setTimeout(function announce() {
  void app.broker().then(() => process.stdout.write('bench-ready\n'));
}, 0);

export default app;
