/**
 * What each side of the Redis benchmark provides: one method per measure, each run under
 * the same conditions as its rival's (the runner interleaves them). A contender cleans up
 * after each measure; it must never touch keys outside its own prefix.
 */
export interface Contender {
  readonly name: string;
  setup(): Promise<void>;
  /** Awaited enqueues per second, one at a time. */
  enqueueSequential(count: number): Promise<number>;
  /** Enqueues per second in batches of 1,000. */
  enqueueBulk(count: number): Promise<number>;
  /** No-op tasks per second through one worker process at this concurrency, `count` pre-enqueued. */
  throughput(count: number, concurrency: number): Promise<number>;
  /** Enqueue-to-start latencies (ms) on an idle worker, sorted. */
  latency(samples: number): Promise<number[]>;
  teardown(): Promise<void>;
}
