/**
 * BullMQ's side of the Redis benchmark, the same measures on the same Redis: awaited
 * `queue.add`, `addBulk` in batches of 1,000, pre-enqueued no-ops through one BullMQ worker
 * process (completed jobs kept, BullMQ's default, or `removeOnComplete: true`), the free
 * version's global rate limiter (Worker `limiter`), and enqueue-to-start latency as its
 * worker saw it. Per-key limits (groups) are BullMQ Pro only, so not here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { nextLine, rate, wallClock } from '../support.js';
import { bullmqWorkerArgs, startChild } from './child.js';
import {
  LATENCY_WARMUP,
  parseLatencies,
  untilProbe,
  type Contender,
  type FlowLimit,
  type ThroughputOptions,
} from './contender.js';

const QUEUE = 'bench';

export class BullmqSide implements Contender {
  readonly name = 'BullMQ';
  readonly limits: readonly FlowLimit[] = ['globalRate'];
  private readonly queue: Queue;
  private readonly env: Record<string, string>;

  constructor(url: string, prefix: string) {
    const parsed = new URL(url);
    const connection = {
      host: parsed.hostname,
      port: Number(parsed.port || 6379),
      db: Number(parsed.pathname.slice(1) || 0),
    };
    this.queue = new Queue(QUEUE, { connection, prefix });
    this.env = { BENCH_REDIS_URL: url, BENCH_PREFIX: prefix, BENCH_QUEUE: QUEUE };
  }

  async setup(): Promise<void> {
    await this.queue.waitUntilReady();
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

  async throughput(
    count: number,
    concurrency: number,
    options: ThroughputOptions = {},
  ): Promise<number> {
    if (options.limit === 'perKey')
      throw new Error('BullMQ has per-key limits (groups) only in BullMQ Pro');
    await this.enqueueAll(count, options.results === false);
    const worker = await startChild(bullmqWorkerArgs(), {
      ...this.env,
      BENCH_COUNT: String(count),
      BENCH_CONCURRENCY: String(concurrency),
      // Far above what one machine runs, as Celeriac's limit in the same measure.
      ...(options.limit === 'globalRate' ? { BENCH_LIMITER_MAX: '1000000' } : {}),
    });
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  async latency(samples: number, intervalMs: number): Promise<number[]> {
    const worker = await startChild(bullmqWorkerArgs(), {
      ...this.env,
      BENCH_CONCURRENCY: '10',
      BENCH_LATENCY_COUNT: String(samples + LATENCY_WARMUP),
    });
    try {
      const reported = nextLine(worker.lines, 'bench-latency');
      reported.catch(() => undefined); // awaited below; a worker that dies must not crash the bench
      const startedAt = wallClock();
      for (let i = 0; i < samples + LATENCY_WARMUP; i++) {
        await sleep(untilProbe(startedAt, i, intervalMs, wallClock()));
        await this.queue.add('latency', { sentAt: wallClock() });
      }
      return parseLatencies(await reported);
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  async teardown(): Promise<void> {
    await this.reset().catch(() => undefined);
    await this.queue.close();
  }

  private async enqueueAll(count: number, removeOnComplete = false): Promise<void> {
    const opts = removeOnComplete ? { removeOnComplete: true } : undefined;
    for (let i = 0; i < count; i += 1000) {
      await this.queue.addBulk(
        Array.from({ length: Math.min(1000, count - i) }, () => ({
          name: 'noop',
          data: {},
          ...(opts ? { opts } : {}),
        })),
      );
    }
  }

  private reset(): Promise<void> {
    return this.queue.obliterate({ force: true });
  }
}
