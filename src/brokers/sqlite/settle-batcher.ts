/**
 * Gathers the settle operations (ack, requeue, dead-letter, defer, release) asked for in
 * one event-loop turn and commits them in a single transaction, so a consumer acking
 * thousands of messages a second pays for one commit per turn, not one per message.
 * Each caller's promise resolves only after that commit: an ack is durable before
 * `ack()` resolves. Must never reorder or drop an operation, or resolve before commit.
 */
import type { MessageStore, SettleOp } from './message-store.js';

interface Pending {
  op: SettleOp;
  resolve: (leaseHeld: boolean) => void;
  reject: (error: Error) => void;
}

export class SettleBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> | undefined;

  /** `afterFlush` learns whether a committed batch made rows claimable again (requeue, release, ...). */
  constructor(
    private readonly store: () => MessageStore,
    private readonly afterFlush: (freedRows: boolean) => void,
  ) {}

  /** Resolves with whether the lease still held (false: another consumer owns the row now). */
  settle(op: SettleOp): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ op, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: every ack of this turn (from many task callbacks) joins the batch.
        this.flushing = new Promise((done) =>
          setImmediate(() => {
            this.flushNow();
            done();
          }),
        );
      }
    });
  }

  /** Waits for the scheduled flush, then commits whatever is pending. */
  async drain(): Promise<void> {
    await this.flushing;
    this.flushNow();
  }

  /** Commits whatever is pending, synchronously (close calls it right before releasing leases). */
  flushNow(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: boolean[];
    try {
      results = this.store().settleBatch(
        batch.map((entry) => entry.op),
        Date.now(),
      );
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    batch.forEach((entry, i) => entry.resolve(results[i] ?? false));
    this.afterFlush(
      batch.some(
        (entry, i) => results[i] === true && entry.op.kind !== 'ack' && entry.op.kind !== 'dead',
      ),
    );
  }
}
