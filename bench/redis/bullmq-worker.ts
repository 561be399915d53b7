/**
 * The BullMQ side's worker process, so BullMQ runs through one worker process exactly as
 * Celeriac does. Prints `bench-ready` once its worker is ready and `bench-done <ms>` (first
 * no-op start to last) after BENCH_COUNT no-ops. Must never be imported by the bench.
 */
import { Worker } from 'bullmq';
import { wallClock } from '../support.js';

const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
const target = Number(process.env.BENCH_COUNT ?? 0);
let done = 0;
let firstAt = 0;
const worker = new Worker(
  process.env.BENCH_QUEUE ?? 'bench',
  (job) => {
    if (job.name === 'latency')
      return Promise.resolve(wallClock() - (job.data as { sentAt: number }).sentAt);
    if (done === 0) firstAt = wallClock();
    done++;
    if (done === target) process.stdout.write(`bench-done ${wallClock() - firstAt}\n`);
    return Promise.resolve(null);
  },
  {
    connection: {
      host: url.hostname,
      port: Number(url.port || 6379),
      db: Number(url.pathname.slice(1) || 0),
    },
    prefix: process.env.BENCH_PREFIX ?? 'bull',
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 1),
  },
);
await worker.waitUntilReady();
process.stdout.write('bench-ready\n');
