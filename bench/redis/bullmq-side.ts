/**
 * BullMQ's half of the Redis benchmark, the same measures on the same Redis: awaited
 * `queue.add`, `addBulk` in batches of 1,000, 20,000 pre-enqueued no-ops through one
 * BullMQ worker process at concurrency 1/10/100, and enqueue-to-start latency read back
 * through QueueEvents. BullMQ keeps its defaults (completed jobs and their results kept).
 */
import { Queue, QueueEvents } from 'bullmq';
import { nextLine, percentile, rate, wallClock } from '../support.js';
import { bullmqWorkerArgs, startChild } from './child.js';
import type { QueueFigures } from './figures.js';
import type { SideOptions } from './celeriac-side.js';

const QUEUE = 'bench';

export async function measureBullmq(options: SideOptions): Promise<QueueFigures> {
  const { url, prefix, tasks } = options;
  const parsed = new URL(url);
  const connection = { host: parsed.hostname, port: Number(parsed.port || 6379), db: Number(parsed.pathname.slice(1) || 0) };
  const queue = new Queue(QUEUE, { connection, prefix });
  const events = new QueueEvents(QUEUE, { connection, prefix });
  const env = { BENCH_REDIS_URL: url, BENCH_PREFIX: prefix, BENCH_QUEUE: QUEUE };
  const enqueueAll = async () => {
    for (let i = 0; i < tasks; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, tasks - i) }, () => ({ name: 'noop', data: {} })));
    }
  };
  const reset = () => queue.obliterate({ force: true });
  try {
    await queue.waitUntilReady();
    await events.waitUntilReady();
    for (let i = 0; i < 1000; i++) await queue.add('noop', {});
    await reset();

    let start = wallClock();
    for (let i = 0; i < options.sequential; i++) await queue.add('noop', {});
    const enqueueSequential = rate(options.sequential, wallClock() - start);
    await reset();

    start = wallClock();
    await enqueueAll();
    const enqueueBulk = rate(tasks, wallClock() - start);
    await reset();

    const throughput: number[] = [];
    for (const concurrency of [1, 10, 100]) {
      await enqueueAll();
      const worker = await startChild(bullmqWorkerArgs(), { ...env, BENCH_COUNT: String(tasks), BENCH_CONCURRENCY: String(concurrency) });
      const line = await nextLine(worker.lines, 'bench-done');
      await worker.stop();
      throughput.push(rate(tasks, Number(line.split(' ')[1])));
      await reset();
    }

    const worker = await startChild(bullmqWorkerArgs(), { ...env, BENCH_CONCURRENCY: '10' });
    const latencies: number[] = [];
    for (let i = 0; i < options.latencySamples + 20; i++) {
      const job = await queue.add('latency', { sentAt: wallClock() });
      const ms = (await job.waitUntilFinished(events, 10_000)) as number;
      if (i >= 20) latencies.push(ms);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await worker.stop();
    latencies.sort((a, b) => a - b);
    return {
      enqueueSequential,
      enqueueBulk,
      throughputC1: throughput[0]!,
      throughputC10: throughput[1]!,
      throughputC100: throughput[2]!,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
    };
  } finally {
    await reset().catch(() => undefined);
    await events.close();
    await queue.close();
  }
}
