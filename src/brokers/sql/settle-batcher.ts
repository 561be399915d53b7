/**
 * Gathers the settle operations (ack, requeue, dead-letter, defer, release) asked for in
 * one event-loop turn and hands them to the store as one batch (one SQLite transaction,
 * or one PostgreSQL statement per kind), so a consumer acking thousands of messages a
 * second pays per turn, not per message. Each caller's promise resolves only after the
 * batch committed: an ack is durable before `ack()` resolves.
 * Must never reorder or drop an operation, or resolve before commit.
 */
import type { MaybePromise, SettleOp } from './queue-store.js';

interface Pending {
  op: SettleOp;
  resolve: (leaseHeld: boolean) => void;
  reject: (error: Error) => void;
}

export class SettleBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * @param commit runs a batch (the store's `settleBatch`, with any retry the dialect wants).
   * @param afterCommit learns whether a committed batch made rows claimable again
   *   (requeue, release, defer), with their queues.
   */
  constructor(
    private readonly commit: (ops: SettleOp[], now: number) => MaybePromise<boolean[]>,
    private readonly afterCommit: (freedQueues: ReadonlySet<string>) => void = () => undefined,
  ) {}

  /** Resolves with whether the lease still held (false: another consumer owns the row now). */
  settle(op: SettleOp): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ op, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: every ack of this turn (from many task callbacks) joins the batch.
        setImmediate(() => this.flushNow());
      }
    });
  }

  /** Waits until every settle asked for so far is committed (or failed). */
  async drain(): Promise<void> {
    this.flushNow();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Commits whatever is pending now. With a synchronous store the commit is done when this
   * returns (close relies on it right before releasing leases).
   */
  flushNow(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: MaybePromise<boolean[]>;
    try {
      results = this.commit(
        batch.map((entry) => entry.op),
        Date.now(),
      );
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    if (!(results instanceof Promise)) {
      this.finish(batch, results);
      return;
    }
    const running = results.then(
      (done) => this.finish(batch, done),
      (error: unknown) => {
        for (const entry of batch) entry.reject(error as Error);
      },
    );
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  private finish(batch: readonly Pending[], results: readonly boolean[]): void {
    batch.forEach((entry, i) => entry.resolve(results[i] ?? false));
    const freed = new Set<string>();
    batch.forEach(({ op }, i) => {
      if (results[i] === true && op.kind !== 'ack' && op.kind !== 'dead') freed.add(op.queue);
    });
    if (freed.size > 0) this.afterCommit(freed);
  }
}
