/**
 * The part of a SQL broker (SQLite, PostgreSQL) that does not depend on the database:
 * its consumers, the claim tokens they lease rows with, the lease keeper renewing what
 * they hold, the settle batcher, error reporting to every consumer's `onError`, and the
 * orderly stop (consumers cancelled, pending settles committed, held leases released so
 * those messages are delivered again at once). A broker owns one, and adds its dialect:
 * connections, SQL, how consumers are woken.
 * Must never import a database client.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ConsumeOptions, Consumer } from '../broker.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { MaybePromise, QueueStore, SettleOp } from './queue-store.js';
import { SettleBatcher } from './settle-batcher.js';
import { SqlConsumer } from './sql-consumer.js';

export interface SqlBrokerCoreOptions {
  /** Names the database in messages ("SQLite", "PostgreSQL"). */
  label: string;
  leaseMs: number;
  /** The slow fallback poll of idle consumers, in ms; undefined: none. */
  pollMs: number | undefined;
  /** The connected store; throws a clear error when the broker is closed or not connected. */
  store(): QueueStore;
  isClosed(): boolean;
  /** Runs a batch of settles (default: the store's `settleBatch`), e.g. with a retry on connection loss. */
  commitSettles?: ((ops: SettleOp[], now: number) => MaybePromise<boolean[]>) | undefined;
  /** After a committed batch or release made rows claimable again, with their queues. */
  afterFreed?: ((queues: ReadonlySet<string>) => void) | undefined;
}

export class SqlBrokerCore {
  readonly consumers = new Set<SqlConsumer>();
  readonly leases: LeaseKeeper;
  private readonly batcher: SettleBatcher;
  private readonly consumerErrors = new Set<(error: Error) => void>();
  private readonly tag = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private claims = 0;

  constructor(private readonly options: SqlBrokerCoreOptions) {
    this.leases = new LeaseKeeper(
      () => options.store(),
      options.leaseMs,
      options.label,
      (error) => this.reportError(error),
    );
    this.batcher = new SettleBatcher(
      options.commitSettles ?? ((ops, now) => options.store().settleBatch(ops, now)),
      options.afterFreed,
    );
  }

  /** A consumer on the connected store; the broker wakes it through `wake`. */
  consume(options: ConsumeOptions): Required<Pick<Consumer, 'cancel' | 'setPrefetch'>> {
    const { label, leaseMs, pollMs } = this.options;
    if (options.onError) this.consumerErrors.add(options.onError);
    const consumer = new SqlConsumer(
      {
        store: () => this.options.store(),
        leases: this.leases,
        leaseMs,
        label,
        pollMs,
        newClaimToken: () => `${this.tag}:${(this.claims += 1)}`,
        settle: (op) => this.batcher.settle(op),
        isClosed: () => this.options.isClosed(),
      },
      options,
    );
    this.consumers.add(consumer);
    return {
      cancel: async () => {
        this.consumers.delete(consumer);
        if (options.onError) this.consumerErrors.delete(options.onError);
        await consumer.cancel();
      },
      setPrefetch: (prefetch) => consumer.setPrefetch(prefetch),
    };
  }

  /** Wakes the consumers of `queue` (all of them when omitted) to claim again. */
  wake(queue?: string): void {
    for (const consumer of this.consumers)
      if (queue === undefined || consumer.queues.includes(queue)) consumer.wake();
  }

  /** Tells every consumer's `onError` (the worker logs it). */
  reportError(error: Error): void {
    for (const onError of this.consumerErrors) onError(error);
  }

  /**
   * Stops consumers, commits pending settles, then releases every lease still held
   * (`lease_until = 0`) so those messages are delivered again at once, flagged redelivered.
   * `connected` false: nothing was ever claimed, only the consumers are stopped.
   */
  async stop(connected: boolean): Promise<void> {
    for (const consumer of this.consumers) await consumer.cancel();
    this.consumers.clear();
    if (!connected) return;
    await this.batcher.drain();
    // Settles asked for while we awaited: commit them now (synchronously on SQLite, in this
    // same stretch), so no ack is pending when its lease is released below.
    this.batcher.flushNow();
    await this.batcher.drain();
    const held = [...this.leases.held].filter((lease) => !lease.lost);
    this.leases.stop();
    this.leases.held.clear();
    if (held.length === 0) return;
    try {
      const released = this.options.store().settleBatch(
        held.map((lease) => ({
          kind: 'release' as const,
          id: lease.id,
          owner: lease.owner,
          queue: lease.queue,
        })),
        Date.now(),
      );
      if (released instanceof Promise) await released;
      this.options.afterFreed?.(new Set(held.map((lease) => lease.queue)));
    } catch {
      // Could not release now: the leases simply expire after leaseMs.
    }
  }
}
