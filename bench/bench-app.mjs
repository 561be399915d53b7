// The app the benchmarks run in a worker process: a no-op task that counts completions,
// a latency probe, and no-ops under flow-control limits. Prints `bench-ready <rss bytes>`
// once the worker consumes, `bench-done <ms> <cpu µs>` (first no-op start to last, and the
// process's CPU time, user + system, over the same span) when BENCH_COUNT no-ops have run, `bench-latency <json ms[]>` once BENCH_LATENCY_COUNT probes have
// started, and with BENCH_PROGRESS=1 a `bench-progress <done> <first> <last> <rss> <cpu µs since the first>` line
// every 100 ms while the count moves (for runs spread over several workers). With
// BENCH_TASK_HISTORY=1 the app keeps task history (its cost: npm run bench -- history).
// Plain JavaScript importing the built package, as a user's compiled app does in
// production: the worker it runs in is the built CLI (bench/worker-cli.mjs), with no
// TypeScript loader in the process. Must do no more per task than count and read a clock.
import { Celeriac } from 'celeriac';

/** Milliseconds since the epoch with sub-millisecond resolution, comparable between processes. */
const wallClock = () => performance.timeOrigin + performance.now();

export const app = new Celeriac({
  keyPrefix: process.env.BENCH_PREFIX,
  taskHistory: process.env.BENCH_TASK_HISTORY === '1',
});

const target = Number(process.env.BENCH_COUNT ?? 0);
const progress = process.env.BENCH_PROGRESS === '1';
let done = 0;
let firstAt = 0;
let lastAt = 0;
let cpuAtFirst = { user: 0, system: 0 };

function noop() {
  if (done === 0) {
    firstAt = wallClock();
    cpuAtFirst = process.cpuUsage();
  }
  done++;
  if (progress) lastAt = wallClock();
  if (done === target) {
    const cpu = process.cpuUsage(cpuAtFirst);
    process.stdout.write(`bench-done ${wallClock() - firstAt} ${cpu.user + cpu.system}\n`);
  }
  return null;
}

app.task('bench.noop', noop);
// With BENCH_FLOW=1, the same no-op under each limit the flow bench compares (bench/flow):
// a per-key lock over 1,000 keys, and a global rate limit far above what one machine runs
// (every task pays the store's take; none waits). Only then: they need a flow store, which
// a broker without a result backend (RabbitMQ here) lacks, and the worker refuses them.
if (process.env.BENCH_FLOW === '1') {
  app.task('bench.flow.perkey', (_i) => noop(), {
    concurrency: { limit: 1, key: (i) => String(i % 1000) },
  });
  app.task('bench.flow.rate', (_i) => noop(), { rateLimit: { rate: 1_000_000, burst: 1000 } });
}

const latencyTarget = Number(process.env.BENCH_LATENCY_COUNT ?? 0);
const latencies = [];
app.task('bench.latency', (sentAt) => {
  const ms = wallClock() - sentAt;
  latencies.push(ms);
  if (latencies.length === latencyTarget)
    process.stdout.write(`bench-latency ${JSON.stringify(latencies)}\n`);
  return ms;
});

if (progress) {
  let reported = -1;
  setInterval(() => {
    if (done === reported) return;
    reported = done;
    const rss = process.memoryUsage.rss();
    const cpu = process.cpuUsage(cpuAtFirst);
    process.stdout.write(
      `bench-progress ${done} ${firstAt} ${lastAt} ${rss} ${cpu.user + cpu.system}\n`,
    );
  }, 100).unref();
}

// The worker logs its ready line on stderr; the bench reads stdout, so say it there too.
setTimeout(function announce() {
  void app.broker().then(() => process.stdout.write(`bench-ready ${process.memoryUsage.rss()}\n`));
}, 0);

export default app;
