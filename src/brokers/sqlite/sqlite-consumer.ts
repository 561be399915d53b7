/**
 * One consumer of the SQLite broker: claims ready rows of its queues up to its free
 * prefetch slots in one transaction, turns them into deliveries, and sleeps until a
 * change (a publish in this process, a write by another process) or the earliest time a
 * delayed row or a lease comes due. No busy polling: an idle consumer runs no query
 * until woken. Must never hold more unsettled deliveries than its prefetch, and never
 * let an undecodable row stop it (such rows are dead-lettered and reported).
 */
import type { ConsumeOptions, Consumer, Delivery } from '../broker.js';
import { decodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { CeleriacError } from '../../errors.js';
import type { ChangeFeed } from '../../connections/sqlite/change-feed.js';
import type { HeldLease, LeaseKeeper } from './lease-keeper.js';
import type { ClaimedRow, MessageStore, SettleOp } from './message-store.js';

/** Most rows one claim transaction takes, so a huge prefetch does not stall the loop. */
const MAX_CLAIM = 256;
/** Pause after a failed claim (e.g. the database stayed busy past its timeout). */
const RETRY_MS = 250;
/** setTimeout's ceiling; a wake further away simply re-arms on the next change. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  store(): MessageStore;
  readonly feed: ChangeFeed;
  readonly leases: LeaseKeeper;
  readonly leaseMs: number;
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

export class SqliteConsumer implements Consumer {
  private prefetch: number;
  private held = 0;
  private cancelled = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly unlisten: () => void;
  private readonly queues: readonly string[];

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
  ) {
    if (options.queues.length === 0)
      throw new CeleriacError('consume() needs at least one queue name.');
    this.queues = [...new Set(options.queues)];
    this.prefetch = Math.max(1, Math.floor(options.prefetch));
    this.unlisten = host.feed.listen(() => this.wake());
    this.wake();
  }

  /** A raised prefetch claims at once; a lowered one waits for settles to fall under it. */
  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, Math.floor(prefetch));
    this.wake();
  }

  cancel(): Promise<void> {
    this.cancelled = true;
    this.unlisten();
    clearTimeout(this.timer);
    return Promise.resolve();
  }

  /** Schedules one claim attempt; many wake-ups in one turn cost one claim. */
  wake(): void {
    if (this.scheduled || this.cancelled) return;
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
    const limit = Math.min(free, MAX_CLAIM);
    const now = Date.now();
    const token = this.host.newClaimToken();
    let rows: ClaimedRow[];
    try {
      rows = this.host.store().claim(this.queues, token, limit, now, this.host.leaseMs);
    } catch (error) {
      this.reportError(
        new CeleriacError(`SQLite claim failed, retrying: ${(error as Error).message}`, {
          cause: error,
        }),
      );
      this.arm(now + RETRY_MS, now);
      return;
    }
    for (const row of rows) this.deliver(row, token);
    if (rows.length === limit) {
      this.wake(); // there may be more ready right now
      return;
    }
    try {
      this.arm(this.host.store().nextWakeAt(this.queues, now), now);
    } catch (error) {
      this.reportError(error as Error);
      this.arm(now + RETRY_MS, now);
    }
  }

  /** Sleeps until `at` (the next delayed row or lease expiry); changes wake us sooner. */
  private arm(at: number | undefined, now: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (at === undefined || this.cancelled) return;
    this.timer = setTimeout(() => this.wake(), Math.min(Math.max(0, at - now) + 1, MAX_TIMER_MS));
  }

  private deliver(row: ClaimedRow, owner: string): void {
    let message: TransportMessage;
    try {
      message = decodeEnvelope(row.envelope);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const report = new UndecodableMessageError(row.id, row.queue, reason);
      this.host.settle({ kind: 'dead', id: row.id, owner, reason: report.message }).then(
        () => this.reportError(report),
        (settleError: Error) => this.reportError(settleError),
      );
      return;
    }
    if (row.redelivered !== 0) {
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
          `Cannot settle message ${row.id}: the SQLite broker is closed, and released it to be delivered again.`,
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
    const key = { id: row.id, owner: lease.owner };
    return {
      message,
      queue: row.queue,
      redelivered: row.redelivered !== 0,
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
