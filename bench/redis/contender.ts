/**
 * What each side of the Redis benchmark provides: one method per measure, each run under
 * the same conditions as its rivals' (the runner interleaves them). A contender cleans up
 * after each measure; it must never touch keys outside its own prefix.
 */
export interface Contender {
  readonly name: string;
  setup(): Promise<void>;
  /** Awaited enqueues per second, one at a time. */
  enqueueSequential(count: number): Promise<number>;
  /** Enqueues per second in batches of 1,000 (Celeriac sendMany, BullMQ addBulk, bee-queue saveAll). */
  enqueueBulk(count: number): Promise<number>;
  /**
   * No-op tasks per second through one worker process at this concurrency, `count`
   * pre-enqueued: first start to last. `results: false` drops results (Celeriac
   * `ignoreResult`, BullMQ `removeOnComplete`, bee-queue `removeOnSuccess`); otherwise each
   * keeps them as it does by default. `limit` runs them under a flow-control limit, where
   * the contender has it (see `limits`).
   */
  throughput(count: number, concurrency: number, options?: ThroughputOptions): Promise<number>;
  /**
   * Enqueue-to-start latencies (ms), sorted: `samples` probes sent one every `intervalMs`
   * to an otherwise idle worker, not waiting for each to finish.
   */
  latency(samples: number, intervalMs: number): Promise<number[]>;
  /** The flow-control limits `throughput` honours. */
  readonly limits: readonly FlowLimit[];
  teardown(): Promise<void>;
}

/** A per-key concurrency limit of 1 over 1,000 keys, or a global rate limit above the machine's rate. */
export type FlowLimit = 'perKey' | 'globalRate';

export interface ThroughputOptions {
  /** Keep results as the contender does by default. @default true */
  results?: boolean;
  limit?: FlowLimit;
}

/** Milliseconds to wait before the next probe of an open-loop latency run started at `startedAt`. */
export function untilProbe(
  startedAt: number,
  index: number,
  intervalMs: number,
  now: number,
): number {
  return Math.max(0, startedAt + index * intervalMs - now);
}

/** Probes sent first and dropped, so a cold worker's first runs (JIT, connections) do not count. */
export const LATENCY_WARMUP = 50;

/** The sorted latencies of a worker's `bench-latency <json ms[]>` line, its warm-up probes dropped. */
export function parseLatencies(line: string): number[] {
  const all = JSON.parse(line.slice('bench-latency '.length)) as number[];
  return all.slice(LATENCY_WARMUP).sort((a, b) => a - b);
}
