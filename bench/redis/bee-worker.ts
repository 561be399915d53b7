/**
 * The bee-queue side's worker process, so bee-queue runs through one worker process as
 * Celeriac and BullMQ do, with its defaults (succeeded jobs kept, events sent) unless
 * BENCH_REMOVE_ON_SUCCESS=1. Prints `bench-ready` once it is ready, `bench-done <ms>` (first
 * no-op start to last) after BENCH_COUNT no-ops, and `bench-latency <json ms[]>` once
 * BENCH_LATENCY_COUNT latency probes have started. Must never be imported by the bench.
 */
import BeeQueue from 'bee-queue';
import { wallClock } from '../support.js';
import { beeRedis } from './bee-side.js';

const target = Number(process.env.BENCH_COUNT ?? 0);
const latencyTarget = Number(process.env.BENCH_LATENCY_COUNT ?? 0);
const latencies: number[] = [];
let done = 0;
let firstAt = 0;
const queue = new BeeQueue<{ sentAt?: number }>(process.env.BENCH_QUEUE ?? 'bench', {
  prefix: process.env.BENCH_PREFIX ?? 'bq',
  redis: beeRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0'),
  removeOnSuccess: process.env.BENCH_REMOVE_ON_SUCCESS === '1',
});
queue.process(Number(process.env.BENCH_CONCURRENCY ?? 1), (job) => {
  const { sentAt } = job.data;
  if (sentAt !== undefined) {
    const ms = wallClock() - sentAt;
    latencies.push(ms);
    if (latencies.length === latencyTarget)
      process.stdout.write(`bench-latency ${JSON.stringify(latencies)}\n`);
    return Promise.resolve(ms);
  }
  if (done === 0) firstAt = wallClock();
  done++;
  if (done === target) process.stdout.write(`bench-done ${wallClock() - firstAt}\n`);
  return Promise.resolve(null);
});
await queue.ready();
process.stdout.write('bench-ready\n');
