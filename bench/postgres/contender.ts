/**
 * What each side of the PostgreSQL benchmark provides: one method per measure, each run
 * under the same conditions as its rivals' (the runner interleaves them), in a schema of
 * its own on the same database. A contender empties its queue after each measure; it must
 * never touch a schema other than its own.
 */
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
