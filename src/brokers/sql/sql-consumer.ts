/**
 * One consumer of a SQL broker (SQLite or PostgreSQL): claims ready rows of its queues up
 * to its free prefetch slots with one statement or transaction, turns them into
 * deliveries, and sleeps until its broker wakes it (a change to the tables, a NOTIFY, a
 * settle that freed a slot) or the earliest time a delayed row or a lease comes due. No
 * busy polling: an idle consumer runs no query until woken, except an optional slow
 * fallback poll (`pollMs`) covering a wake-up lost with its connection.
 * Rows the claim found expired arrive already dead-lettered: they are handed on flagged
 * `expired` (so the worker marks their tasks REVOKED) without a lease or a slot.
 * Must never hold more unsettled deliveries than its prefetch, never have two claims out
 * at once, and never let an undecodable row stop it (such rows are dead-lettered and reported).
 */
import type { ConsumeOptions, Consumer, Delivery } from '../broker.js';
import { decodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { CeleriacError } from '../../errors.js';
import type { HeldLease, LeaseKeeper } from './lease-keeper.js';
import type { ClaimedRow, QueueStore, SettleOp } from './queue-store.js';

/** Most rows one claim takes, so a huge prefetch does not make one giant statement. */
const MAX_CLAIM = 256;
/** Pause after a failed claim (a busy database, a connection being replaced). */
const RETRY_MS = 250;
/** setTimeout's ceiling; a wake further away simply re-arms on the next change. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  store(): QueueStore;
  readonly leases: LeaseKeeper;
  readonly leaseMs: number;
  /** Names the database in messages ("SQLite", "PostgreSQL"). */
  readonly label: string;
  /** The slow fallback poll of an idle consumer, in ms; undefined: none (every change wakes it). */
  readonly pollMs: number | undefined;
  /** A claim token unique to this call: rows leased by one claim carry it. */
  newClaimToken(): string;
  settle(op: SettleOp): Promise<boolean>;
  /** True once the broker closed: settling then fails with a clear error. */
  isClosed(): boolean;
}

export class UndecodableMessageError extends CeleriacError {
  constructor(
    readonly messageId: number,
    readonly queue: string,
    reason: string,
  ) {
    super(
      `Moved message ${messageId} of queue "${queue}" to the dead letters: its envelope cannot be decoded ` +
        `(${reason}). Consumption goes on; inspect it with broker.deadLetters("${queue}").`,
    );
  }
}

/**
 * A delivery of a SQL consumer: `ackCarrying` acks it with a write the dialect's store
 * commits in the same transaction (SettleOp `carried`).
 */
export interface SqlDelivery extends Delivery {
  ackCarrying(carried: unknown): Promise<void>;
}

const settledAlready = (): Promise<void> => Promise.resolve();

export class SqlConsumer implements Consumer {
  private prefetch: number;
  readonly queues: readonly string[];
  private held = 0;
  private cancelled = false;
  private scheduled = false;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
  ) {
    if (options.queues.length === 0)
      throw new CeleriacError('consume() needs at least one queue name.');
    this.queues = [...new Set(options.queues)];
    this.prefetch = Math.max(1, Math.floor(options.prefetch));
    this.wake();
  }

  /** A raised prefetch claims at once; a lowered one waits for settles to fall under it. */
  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, Math.floor(prefetch));
    this.wake();
  }

  cancel(): Promise<void> {
    this.cancelled = true;
    clearTimeout(this.timer);
    return Promise.resolve();
  }

  /** Schedules one claim; many wake-ups in one turn, or during a claim, cost one more claim. */
  wake(): void {
    if (this.cancelled) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  private reportError(error: Error): void {
    try {
      this.options.onError?.(error);
    } catch {
      // A throwing error handler must not stop consumption.
    }
  }

  private pump(): void {
    this.scheduled = false;
    if (this.cancelled || this.host.isClosed()) return;
    const free = this.prefetch - this.held;
    if (free <= 0) return; // a settle wakes us
    this.running = true;
    this.again = false;
    const limit = Math.min(free, MAX_CLAIM);
    const now = Date.now();
    const token = this.host.newClaimToken();
    try {
      const claimed = this.host.store().claim(this.queues, token, limit, now, this.host.leaseMs);
      if (claimed instanceof Promise)
        claimed.then(
          (rows) => this.claimed(rows, token, limit, now),
          (error: unknown) => this.claimFailed(error),
        );
      else this.claimed(claimed, token, limit, now);
    } catch (error) {
      this.claimFailed(error);
    }
  }

  private claimFailed(error: unknown): void {
    this.running = false;
    if (this.cancelled || this.host.isClosed()) return;
    this.reportError(
      new CeleriacError(`${this.host.label} claim failed, retrying: ${(error as Error).message}`, {
        cause: error,
      }),
    );
    this.arm(Date.now() + RETRY_MS);
  }

  private claimed(rows: ClaimedRow[], token: string, limit: number, now: number): void {
    if (this.cancelled || this.host.isClosed()) {
      this.running = false;
      // Claimed while closing: hand the leased rows straight back.
      for (const row of rows)
        if (!row.expired)
          void this.host
            .settle({ kind: 'release', id: row.id, owner: token, queue: row.queue })
            .catch(() => undefined);
      return;
    }
    for (const row of rows) this.deliver(row, token);
    if (rows.length === limit) {
      this.running = false;
      this.wake(); // a full claim: there may be more ready right now
      return;
    }
    let wakeAt: number | undefined | Promise<number | undefined>;
    try {
      wakeAt = this.host.store().nextWakeAt(this.queues, now);
    } catch (error) {
      this.claimFailed(error);
      return;
    }
    if (wakeAt instanceof Promise)
      wakeAt.then(
        (at) => this.sleep(at, now),
        (error: unknown) => this.claimFailed(error),
      );
    else this.sleep(wakeAt, now);
  }

  /** Sleeps until the next delayed row, lease expiry or fallback poll; a wake-up comes sooner. */
  private sleep(at: number | undefined, now: number): void {
    this.running = false;
    if (this.again) {
      this.wake();
      return;
    }
    const poll = this.host.pollMs;
    this.arm(poll === undefined ? at : Math.min(at ?? Infinity, now + poll));
  }

  private arm(at: number | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (at === undefined || this.cancelled) return;
    this.timer = setTimeout(
      () => this.wake(),
      Math.min(Math.max(0, at - Date.now()) + 1, MAX_TIMER_MS),
    );
    // With a fallback poll the broker's own connection keeps the process up; without one
    // (SQLite) this timer is what brings a delayed row back, as the original did.
    if (this.host.pollMs !== undefined) this.timer.unref();
  }

  private deliver(row: ClaimedRow, owner: string): void {
    let message: TransportMessage;
    try {
      message = decodeEnvelope(row.envelope);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const report = new UndecodableMessageError(row.id, row.queue, reason);
      if (row.expired) {
        this.reportError(report);
        return;
      }
      this.host
        .settle({ kind: 'dead', id: row.id, owner, queue: row.queue, reason: report.message })
        .then(
          () => this.reportError(report),
          (settleError: Error) => this.reportError(settleError),
        );
      return;
    }
    const redelivered = Boolean(row.redelivered);
    if (redelivered) {
      // As kombu marks a restored message, for readers of the properties rather than the Delivery.
      const info = message.properties.delivery_info ?? { exchange: '', routing_key: row.queue };
      message.properties.delivery_info = { ...info, redelivered: true };
    }
    if (row.expired) {
      this.handOn({
        message,
        queue: row.queue,
        redelivered,
        expired: true,
        ack: settledAlready,
        reject: settledAlready,
        defer: settledAlready,
        release: () => undefined,
      });
      return;
    }
    this.held += 1;
    const lease: HeldLease = {
      id: row.id,
      owner,
      queue: row.queue,
      lost: false,
      onLost: () =>
        this.reportError(
          new CeleriacError(
            `Lost the lease on message ${row.id} of queue "${row.queue}" (not renewed in time): another ` +
              `consumer may run it too. Keep the event loop free (CPU-bound tasks belong in a threads or processes pool).`,
          ),
        ),
    };
    this.host.leases.add(lease);
    this.handOn(this.makeDelivery(row, message, redelivered, lease));
  }

  private handOn(delivery: Delivery): void {
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.reportError(error as Error);
    }
  }

  private makeDelivery(
    row: ClaimedRow,
    message: TransportMessage,
    redelivered: boolean,
    lease: HeldLease,
  ): SqlDelivery {
    let settled = false;
    let slotFreed = false;
    // Once per delivery: when its task's code ends (release) or when it is settled.
    const freeSlot = () => {
      if (slotFreed) return;
      slotFreed = true;
      this.held -= 1;
      this.wake();
    };
    const settle = async (op: SettleOp): Promise<void> => {
      if (settled)
        throw new CeleriacError(`Message ${row.id} of queue "${row.queue}" was already settled.`);
      settled = true;
      if (this.host.isClosed()) {
        throw new CeleriacError(
          `Cannot settle message ${row.id}: the ${this.host.label} broker is closed, and released it to be delivered again.`,
        );
      }
      let leaseHeld: boolean;
      try {
        leaseHeld = await this.host.settle(op);
      } catch (error) {
        // An ack carrying a write that failed committed neither: still held, still to settle.
        if (op.kind === 'ack' && op.carried !== undefined) {
          settled = false;
          throw error;
        }
        // Otherwise, even when the settle failed, free the slot and stop renewing: the lease
        // then expires and the message is delivered again, never stuck.
        this.host.leases.delete(lease);
        freeSlot();
        throw error;
      }
      this.host.leases.delete(lease);
      freeSlot();
      if (!leaseHeld)
        this.reportError(
          new CeleriacError(
            `Could not ${op.kind} message ${row.id} of queue "${row.queue}": its lease had expired and another ` +
              `consumer holds it now, so that consumer settles it (nothing was changed here).`,
          ),
        );
    };
    const key = { id: row.id, owner: lease.owner, queue: row.queue };
    return {
      message,
      queue: row.queue,
      redelivered,
      ack: () => settle({ kind: 'ack', ...key }),
      ackCarrying: (carried: unknown) => settle({ kind: 'ack', ...key, carried }),
      reject: ({ requeue, reason }) =>
        settle(
          requeue
            ? { kind: 'requeue', ...key }
            : { kind: 'dead', ...key, reason: reason ?? 'rejected by the consumer' },
        ),
      defer: (deliverAt) => settle({ kind: 'defer', ...key, deliverAt }),
      release: freeSlot,
    };
  }
}
