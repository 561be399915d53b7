/**
 * One consumer of the PostgreSQL broker: claims ready rows of its queues up to its free
 * prefetch slots with one `FOR UPDATE SKIP LOCKED` statement, turns them into
 * deliveries, and sleeps until a NOTIFY names one of its queues, a settle frees a slot,
 * or the earliest time a delayed row or a lease comes due. No busy polling: an idle
 * consumer runs no query until woken, except one slow fallback poll (`pollMs`) that
 * covers a notification lost while the LISTEN connection was down.
 * Must never hold more unsettled deliveries than its prefetch, and never let an
 * undecodable row stop it (such rows are dead-lettered and reported).
 */
import type { ConsumeOptions, Consumer, Delivery } from '../broker.js';
import { decodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { CeleriacError } from '../../errors.js';
import type { HeldLease, LeaseKeeper } from './lease-keeper.js';
import type { ClaimedRow, MessageStore, SettleOp } from './message-store.js';

/** Most rows one claim takes, so a huge prefetch does not make one giant statement. */
const MAX_CLAIM = 256;
/** Pause after a failed claim (e.g. the connection was lost and is being replaced). */
const RETRY_MS = 250;
/** Due delayed rows are promoted at least this often while a queue stays busy. */
const PROMOTE_EVERY_MS = 1000;
/** setTimeout's ceiling; a wake further away simply re-arms on the next change. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  store(): MessageStore;
  readonly leases: LeaseKeeper;
  readonly leaseMs: number;
  /** The slow fallback poll, in ms. */
  readonly pollMs: number;
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

export class PostgresConsumer implements Consumer {
  private readonly prefetch: number;
  readonly queues: readonly string[];
  private held = 0;
  private cancelled = false;
  private scheduled = false;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private delayedAt: number | undefined;
  private lastPromote = 0;

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

  cancel(): Promise<void> {
    this.cancelled = true;
    clearTimeout(this.timer);
    return Promise.resolve();
  }

  /** A delayed row was published (or deferred) for `at`: make sure a timer covers it. */
  noteDelayed(): void {
    this.delayedAt = undefined;
    this.wake();
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
    setImmediate(() => void this.pump());
  }

  private reportError(error: Error): void {
    try {
      this.options.onError?.(error);
    } catch {
      // A throwing error handler must not stop consumption.
    }
  }

  private async pump(): Promise<void> {
    this.scheduled = false;
    if (this.cancelled || this.host.isClosed()) return;
    const free = this.prefetch - this.held;
    if (free <= 0) return; // a settle wakes us
    this.running = true;
    this.again = false;
    const limit = Math.min(free, MAX_CLAIM);
    const now = Date.now();
    const token = this.host.newClaimToken();
    let rows: ClaimedRow[];
    let next: number | undefined;
    try {
      const store = this.host.store();
      if (
        (this.delayedAt !== undefined && this.delayedAt <= now) ||
        now - this.lastPromote >= PROMOTE_EVERY_MS
      ) {
        this.lastPromote = now;
        this.delayedAt = undefined;
        await store.promoteDue(now);
      }
      rows = await store.claim(this.queues, token, limit, now, this.host.leaseMs);
      if (rows.length < limit && !this.cancelled) {
        const wake = await store.nextWake(this.queues, now);
        this.delayedAt = wake.delayed;
        const times = [wake.delayed, wake.lease].filter((t): t is number => t !== undefined);
        next = Math.min(now + this.host.pollMs, ...times);
      }
    } catch (error) {
      this.running = false;
      if (this.cancelled || this.host.isClosed()) return;
      this.reportError(
        new CeleriacError(`PostgreSQL claim failed, retrying: ${(error as Error).message}`, {
          cause: error,
        }),
      );
      this.arm(Date.now() + RETRY_MS);
      return;
    }
    this.running = false;
    if (this.cancelled || this.host.isClosed()) {
      // Claimed while closing: hand the rows straight back.
      for (const row of rows)
        void this.host
          .settle({ kind: 'release', id: row.id, owner: token, queue: row.queue })
          .catch(() => undefined);
      return;
    }
    for (const row of rows) this.deliver(row, token);
    if (next === undefined || this.again) {
      this.wake(); // a full claim: there may be more ready right now
      return;
    }
    this.arm(next);
  }

  /** Sleeps until `at` (the next delayed row, lease expiry or fallback poll); a NOTIFY wakes us sooner. */
  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.cancelled) return;
    this.timer = setTimeout(
      () => this.wake(),
      Math.min(Math.max(0, at - Date.now()) + 1, MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private deliver(row: ClaimedRow, owner: string): void {
    let message: TransportMessage;
    try {
      message = decodeEnvelope(row.envelope);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const report = new UndecodableMessageError(row.id, row.queue, reason);
      this.host
        .settle({ kind: 'dead', id: row.id, owner, queue: row.queue, reason: report.message })
        .then(
          () => this.reportError(report),
          (settleError: Error) => this.reportError(settleError),
        );
      return;
    }
    if (row.redelivered) {
      // As kombu marks a restored message, for readers of the properties rather than the Delivery.
      const info = message.properties.delivery_info ?? { exchange: '', routing_key: row.queue };
      message.properties.delivery_info = { ...info, redelivered: true };
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
    const delivery = this.makeDelivery(row, message, lease);
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.reportError(error as Error);
    }
  }

  private makeDelivery(row: ClaimedRow, message: TransportMessage, lease: HeldLease): Delivery {
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
          `Cannot settle message ${row.id}: the PostgreSQL broker is closed, and released it to be delivered again.`,
        );
      }
      try {
        const leaseHeld = await this.host.settle(op);
        if (!leaseHeld) {
          this.reportError(
            new CeleriacError(
              `Could not ${op.kind} message ${row.id} of queue "${row.queue}": its lease had expired and another ` +
                `consumer holds it now, so that consumer settles it (nothing was changed here).`,
            ),
          );
        }
      } finally {
        // Even when the settle failed, free the slot and stop renewing: the lease then
        // expires and the message is delivered again, never stuck.
        this.host.leases.delete(lease);
        freeSlot();
      }
    };
    const key = { id: row.id, owner: lease.owner, queue: row.queue };
    return {
      message,
      queue: row.queue,
      redelivered: row.redelivered,
      ack: () => settle({ kind: 'ack', ...key }),
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
