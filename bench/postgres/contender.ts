/**
 * What each side of the PostgreSQL benchmark provides, and the measures built on it: each
 * side says how it enqueues one task, enqueues a batch, empties its queue and starts its
 * worker process; the timing of every measure is written once here, so all sides are timed
 * alike. A side works in a schema of its own and must never touch another.
 */
import { nextLine, rate, startChild, wallClock } from '../support.js';

export interface PgContender {
  readonly name: string;
  setup(): Promise<void>;
  /** Awaited enqueues per second, one at a time. */
  enqueueSequential(count: number): Promise<number>;
  /** Enqueues per second in batches of 1,000. */
  enqueueBulk(count: number): Promise<number>;
  /** No-op tasks per second through one worker process at this concurrency, `count` pre-enqueued. */
  throughput(count: number, concurrency: number): Promise<number>;
  teardown(): Promise<void>;
}

/** A worker process to start: its node arguments and environment. */
export interface WorkerSpec {
  args: string[];
  env: Record<string, string>;
}

export abstract class PgSide implements PgContender {
  abstract readonly name: string;
  abstract setup(): Promise<void>;
  abstract teardown(): Promise<void>;
  /** Enqueues one no-op, awaited. */
  protected abstract enqueueOne(): Promise<void>;
  /** Enqueues `size` no-ops (at most 1,000) in one call. */
  protected abstract enqueueBatch(size: number): Promise<void>;
  /** Empties the side's queue. */
  protected abstract reset(): Promise<void>;
  /** The worker process that prints `bench-ready`, then `bench-done <ms>` after `count` no-ops. */
  protected abstract worker(count: number, concurrency: number): WorkerSpec;

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.enqueueOne();
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
    const spec = this.worker(count, concurrency);
    const worker = await startChild(spec.args, spec.env);
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  protected async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000) await this.enqueueBatch(Math.min(1000, count - i));
  }
}
