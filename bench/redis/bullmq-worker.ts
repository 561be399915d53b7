/**
 * The BullMQ side's worker process, so BullMQ runs through one worker process exactly as
 * Celeriac does. Prints `bench-ready` once its worker is ready, `bench-done <ms>` (first
 * no-op start to last) after BENCH_COUNT no-ops, and `bench-latency <json ms[]>` once
 * BENCH_LATENCY_COUNT latency probes have started. BENCH_LIMITER_MAX sets the free
 * version's global rate limiter (that many jobs a second). Must never be imported by the bench.
 */
import { Worker } from 'bullmq';
import { wallClock } from '../support.js';

const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
const target = Number(process.env.BENCH_COUNT ?? 0);
const latencyTarget = Number(process.env.BENCH_LATENCY_COUNT ?? 0);
const limiterMax = Number(process.env.BENCH_LIMITER_MAX ?? 0);
const latencies: number[] = [];
let done = 0;
let firstAt = 0;
const worker = new Worker(
  process.env.BENCH_QUEUE ?? 'bench',
  (job) => {
    if (job.name === 'latency') {
      const ms = wallClock() - (job.data as { sentAt: number }).sentAt;
      latencies.push(ms);
      if (latencies.length === latencyTarget)
        process.stdout.write(`bench-latency ${JSON.stringify(latencies)}\n`);
      return Promise.resolve(ms);
    }
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
    ...(limiterMax > 0 ? { limiter: { max: limiterMax, duration: 1000 } } : {}),
  },
);
await worker.waitUntilReady();
process.stdout.write('bench-ready\n');
