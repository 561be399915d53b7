// The memory benchmark's worker process: an in-process worker on a memory:// broker and
// backend (results stored, expiring after 2 s, so the backend holds only the last few),
// fed in batches so the backlog stays small: what grows is the worker's own memory.
// Prints `bench-ready`, then `bench-rss <tasks> <rss bytes> <heap used bytes>` after a GC
// at each milestone, then `bench-done <ms>`. Plain JavaScript on the built package.
import { Celeriac, Worker, createLineLogger } from 'celeriac';

const milestones = (process.env.BENCH_MILESTONES ?? '10000,100000,1000000').split(',').map(Number);
const last = milestones[milestones.length - 1];
const app = new Celeriac({
  broker: 'memory://bench-rss',
  backend: 'memory://bench-rss',
  resultExpires: 2,
});
let done = 0;
let next = 0;
const startedAt = performance.now();
let finish;
const finished = new Promise((resolve) => (finish = resolve));

app.task('bench.small', (n) => {
  done++;
  if (done === milestones[next]) {
    const count = milestones[next++];
    const isLast = next === milestones.length;
    // Outside the task, once its result is stored: what is left after a GC is retained.
    setImmediate(() => {
      globalThis.gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.stdout.write(`bench-rss ${count} ${rss} ${heapUsed}\n`);
      if (isLast) finish();
    });
  }
  return n + 1;
});

const worker = new Worker(app, {
  concurrency: 10,
  logger: createLineLogger({ level: 'warn', name: 'worker' }),
});
await worker.start();
process.stdout.write('bench-ready\n');
const broker = await app.broker();
let sent = 0;
while (sent < last) {
  // Keep about 5,000 waiting: enough to never starve the worker, small next to 1M.
  if ((await broker.queueLength('celery')) > 5000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    continue;
  }
  const batch = Math.min(2000, last - sent);
  await app.sendMany(
    Array.from({ length: batch }, (_, i) => ({ task: 'bench.small', args: [sent + i] })),
  );
  sent += batch;
  // The memory broker answers without I/O: let the worker's turns come between batches.
  await new Promise((resolve) => setImmediate(resolve));
}
await finished;
process.stdout.write(`bench-done ${performance.now() - startedAt}\n`);
// Stays up until the bench stops it, so the line above is read before the process exits.
process.once('SIGTERM', () => {
  void worker
    .stop()
    .then(() => app.close())
    .then(() => process.exit(0));
});
setInterval(() => undefined, 60_000);
