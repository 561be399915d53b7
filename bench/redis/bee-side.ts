/**
 * bee-queue's side of the Redis benchmark, the same measures on the same Redis: awaited
 * `createJob().save()`, `saveAll` in batches of 1,000, pre-enqueued no-ops through one
 * bee-queue worker process (succeeded jobs kept, its default, or `removeOnSuccess`), and
 * enqueue-to-start latency as its worker saw it. bee-queue has no rate or concurrency
 * limits across workers, so it sits out the flow measures. Its keys live under its own
 * prefix; `destroy()` empties them after each measure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import BeeQueue from 'bee-queue';
import { nextLine, rate, wallClock } from '../support.js';
import { beeWorkerArgs, startChild } from './child.js';
import {
  LATENCY_WARMUP,
  parseLatencies,
  untilProbe,
  type Contender,
  type FlowLimit,
  type ThroughputOptions,
} from './contender.js';

const QUEUE = 'bench';

type BenchJob = { sentAt?: number };

/** bee-queue's settings for a Redis URL (it takes node_redis options, not a URL). */
export function beeRedis(url: string): { host: string; port: number; db: number } {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    db: Number(parsed.pathname.slice(1) || 0),
  };
}

export class BeeSide implements Contender {
  readonly name = 'bee-queue';
  readonly limits: readonly FlowLimit[] = [];
  private readonly queue: BeeQueue<BenchJob>;
  private readonly env: Record<string, string>;

  constructor(url: string, prefix: string) {
    // A producer only, as bee-queue's docs advise for one: no worker, no events, no job map.
    this.queue = new BeeQueue<BenchJob>(QUEUE, {
      prefix,
      redis: beeRedis(url),
      isWorker: false,
      getEvents: false,
      storeJobs: false,
    });
    this.env = { BENCH_REDIS_URL: url, BENCH_PREFIX: prefix, BENCH_QUEUE: QUEUE };
  }

  async setup(): Promise<void> {
    await this.queue.ready();
    for (let i = 0; i < 2000; i++) await this.queue.createJob({}).save();
    await this.reset();
  }

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.queue.createJob({}).save();
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
    if (options.limit) throw new Error('bee-queue has no rate or concurrency limits');
    await this.enqueueAll(count);
    const worker = await startChild(beeWorkerArgs(), {
      ...this.env,
      BENCH_COUNT: String(count),
      BENCH_CONCURRENCY: String(concurrency),
      BENCH_REMOVE_ON_SUCCESS: options.results === false ? '1' : '0',
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
    const worker = await startChild(beeWorkerArgs(), {
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
        await this.queue.createJob({ sentAt: wallClock() }).save();
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

  private async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000) {
      const jobs = Array.from({ length: Math.min(1000, count - i) }, () =>
        this.queue.createJob({}),
      );
      const errors = await this.queue.saveAll(jobs);
      if (errors.size) throw [...errors.values()][0]!;
    }
  }

  private reset(): Promise<void> {
    return this.queue.destroy();
  }
}
