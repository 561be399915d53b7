/**
 * Gathers the settle operations (ack, requeue, dead-letter, defer, release) asked for in
 * one event-loop turn and runs them as one statement per kind, so a consumer acking
 * thousands of messages a second pays a few round trips per turn, not one per message.
 * Each caller's promise resolves only after its statement committed: an ack is durable
 * before `ack()` resolves. A batch that fails on a lost connection is retried on a fresh
 * one (every statement checks the claim token, so a repeat changes nothing twice).
 * Must never drop an operation or resolve before commit.
 */
import { retryOnConnectionLoss } from '../../connections/pg/db-client.js';
import type { MessageStore, SettleOp } from './message-store.js';

interface Pending {
  op: SettleOp;
  resolve: (leaseHeld: boolean) => void;
  reject: (error: Error) => void;
}

export class SettleBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly store: () => MessageStore) {}

  /** Resolves with whether the lease still held (false: another consumer owns the row now). */
  settle(op: SettleOp): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ op, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: every ack of this turn (from many task callbacks) joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Waits until every settle asked for so far is committed (or failed). */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const running = (async () => {
      try {
        const store = this.store();
        const results = await retryOnConnectionLoss(() =>
          store.settleBatch(
            batch.map((entry) => entry.op),
            Date.now(),
          ),
        );
        batch.forEach((entry, i) => entry.resolve(results[i] ?? false));
      } catch (error) {
        for (const entry of batch) entry.reject(error as Error);
      }
    })();
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }
}
