/**
 * BullMQ's side of the Redis benchmark, the same measures on the same Redis: awaited
 * `queue.add`, `addBulk` in batches of 1,000, pre-enqueued no-ops through one BullMQ worker
 * process, and enqueue-to-start latency read back through QueueEvents. BullMQ keeps its
 * defaults (completed jobs and their results are kept, as Celeriac keeps results).
 */
import { Queue, QueueEvents } from 'bullmq';
import { nextLine, rate, wallClock } from '../support.js';
import { bullmqWorkerArgs, startChild } from './child.js';
import type { Contender } from './contender.js';

const QUEUE = 'bench';

export class BullmqSide implements Contender {
  readonly name = 'BullMQ';
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly env: Record<string, string>;

  constructor(url: string, prefix: string) {
    const parsed = new URL(url);
    const connection = {
      host: parsed.hostname,
      port: Number(parsed.port || 6379),
      db: Number(parsed.pathname.slice(1) || 0),
    };
    this.queue = new Queue(QUEUE, { connection, prefix });
    this.events = new QueueEvents(QUEUE, { connection, prefix });
    this.env = { BENCH_REDIS_URL: url, BENCH_PREFIX: prefix, BENCH_QUEUE: QUEUE };
  }

  async setup(): Promise<void> {
    await this.queue.waitUntilReady();
    await this.events.waitUntilReady();
    for (let i = 0; i < 2000; i++) await this.queue.add('noop', {});
    await this.reset();
  }

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.queue.add('noop', {});
    const result = rate(count, wallClock() - start);
    await this.reset();
    return result;
  }

  async enqueueBulk(count: number): Promise<number> {
    const start = wallClock();
    await this.enqueueAll(count);
    const result = rate(count, wallClock() - start);
    await this.reset();
    return result;
  }

  async throughput(count: number, concurrency: number): Promise<number> {
    await this.enqueueAll(count);
    const worker = await startChild(bullmqWorkerArgs(), {
      ...this.env,
      BENCH_COUNT: String(count),
      BENCH_CONCURRENCY: String(concurrency),
    });
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  async latency(samples: number): Promise<number[]> {
    const worker = await startChild(bullmqWorkerArgs(), { ...this.env, BENCH_CONCURRENCY: '10' });
    try {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 20; i++) {
        const job = await this.queue.add('latency', { sentAt: wallClock() });
        const ms = (await job.waitUntilFinished(this.events, 10_000)) as number;
        if (i >= 20) latencies.push(ms);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return latencies.sort((a, b) => a - b);
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  async teardown(): Promise<void> {
    await this.reset().catch(() => undefined);
    await this.events.close();
    await this.queue.close();
  }

  private async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000) {
      await this.queue.addBulk(
        Array.from({ length: Math.min(1000, count - i) }, () => ({ name: 'noop', data: {} })),
      );
    }
  }

  private reset(): Promise<void> {
    return this.queue.obliterate({ force: true });
  }
}
