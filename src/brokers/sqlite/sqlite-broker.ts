/**
 * The embedded default broker: queues as rows of one SQLite file that a web process and
 * several worker processes share safely (WAL, `BEGIN IMMEDIATE` claims, leases renewed by
 * a heartbeat). Native delayed delivery, priorities and dead letters; remote control and
 * events through a broadcast log in the same file (sqlite-broadcasting.ts).
 * Must never decode a task (it moves envelope text) and never block the event loop on a
 * long transaction.
 */
import type { TransportMessage } from '../../protocol/types.js';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  PublishOptions,
  DeadLetterInfo,
} from '../broker.js';
import type { BrokerFactoryOptions } from '../registry.js';
import { BrokerConnectionError, CeleriacError } from '../../errors.js';
import { acquireChangeFeed, type ChangeFeed } from '../../connections/sqlite/change-feed.js';
import { openAsPromise, openWith, type DbHandle } from '../../connections/sqlite/database.js';
import { MessageStore } from './message-store.js';
import {
  deadLetterRowIds,
  toDeadLetter,
  toDeadLetterInfo,
  toRow,
  type DeadLetter,
} from '../sql/queue-store.js';
import { SqlBrokerCore } from '../sql/sql-broker-core.js';
import { SqliteBroadcasting } from './sqlite-broadcasting.js';
import { parseSqliteUrl, type SqliteLocation } from '../../connections/sqlite/sqlite-url.js';

export const DEFAULT_KEY_PREFIX = 'celeriac_';
export const DEFAULT_LEASE_MS = 30_000;

export interface SqliteBrokerOptions extends BrokerFactoryOptions {
  /**
   * Prefix of the broker's table names (`<prefix>messages`, `<prefix>dead_letters`).
   * @default 'celeriac_'
   */
  keyPrefix?: string | undefined;
  /**
   * How long a claimed message stays with its consumer without a heartbeat. The live
   * consumer renews it every `leaseMs / 3`; a killed one loses it after `leaseMs`.
   * @default 30000
   */
  leaseMs?: number | undefined;
}

export type { DeadLetter };

export class SqliteBroker implements Broker {
  readonly kind = 'sqlite';
  readonly capabilities: BrokerCapabilities = { delayedDelivery: true, deadLetter: true };
  readonly location: SqliteLocation;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  private handle: DbHandle | undefined;
  private messageStore: MessageStore | undefined;
  private changeFeed: ChangeFeed | undefined;
  private unlistenFeed: (() => void) | undefined;
  private closed = false;
  private readonly core: SqlBrokerCore;
  /** Fanout, topic and reply routing for remote control and events, shared with other processes on the file. */
  readonly broadcasting = new SqliteBroadcasting({
    connection: () => {
      this.open();
      return { handle: this.handle!, feed: this.changeFeed!, prefix: this.keyPrefix };
    },
  });

  constructor(url: string, options: SqliteBrokerOptions = {}) {
    this.location = parseSqliteUrl(url);
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!(this.leaseMs > 0))
      throw new CeleriacError(`leaseMs must be a positive number of ms, got ${this.leaseMs}.`);
    this.core = new SqlBrokerCore({
      label: 'SQLite',
      leaseMs: this.leaseMs,
      pollMs: undefined, // the change feed sees every write, this process's and others'
      store: () => this.store(),
      isClosed: () => this.closed,
      afterFreed: () => this.changeFeed?.notifyLocal(),
    });
  }

  connect(): Promise<void> {
    return openAsPromise(() => this.open());
  }

  /** Opens the connection and creates the tables once; later calls do nothing. */
  private open(): void {
    if (this.closed)
      throw new BrokerConnectionError('This SQLite broker was closed; create a new one.');
    if (this.handle) return;
    const { handle, value } = openWith(
      this.location,
      (opened) => new MessageStore(opened, this.keyPrefix),
    );
    this.messageStore = value;
    this.handle = handle;
    this.changeFeed = acquireChangeFeed(this.location);
  }

  private store(): MessageStore {
    if (this.closed) throw new BrokerConnectionError('The SQLite broker is closed.');
    if (!this.messageStore)
      throw new BrokerConnectionError('The SQLite broker is not connected: call connect() first.');
    return this.messageStore;
  }

  async publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    await this.publishMany([{ message, options }]);
  }

  async publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    if (batch.length === 0) return;
    await this.connect();
    const now = Date.now();
    const rows = batch.map(({ message, options }) => toRow(message, options, now));
    try {
      this.store().insert(rows, now);
    } catch (error) {
      throw new BrokerConnectionError(
        `Could not publish ${rows.length} message(s) to SQLite "${this.location.filename}": ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.changeFeed?.notifyLocal();
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    await this.connect();
    const feed = this.changeFeed;
    if (!feed) throw new BrokerConnectionError('The SQLite broker is not connected.');
    // The feed watches the file only while someone listens: while this broker has consumers.
    this.unlistenFeed ??= feed.listen(() => this.core.wake());
    const consumer = this.core.consume(options);
    return {
      cancel: async () => {
        await consumer.cancel();
        if (this.core.consumers.size === 0) this.stopListening();
      },
      setPrefetch: (prefetch) => consumer.setPrefetch(prefetch),
    };
  }

  private stopListening(): void {
    this.unlistenFeed?.();
    this.unlistenFeed = undefined;
  }

  async purge(queue: string): Promise<number> {
    await this.connect();
    return this.store().purge(queue, Date.now());
  }

  async queueLength(queue: string): Promise<number> {
    await this.connect();
    return this.store().length(queue, Date.now());
  }

  /** When the oldest ready message of the queue was published (unix ms), or null when none waits. */
  async oldestMessageAt(queue: string): Promise<number | null> {
    await this.connect();
    return this.store().oldest(queue, Date.now());
  }

  async listDeadLetters(queue: string, limit: number): Promise<DeadLetterInfo[]> {
    return (await this.deadLetters(queue, limit)).map(toDeadLetterInfo);
  }

  /** Moves the letters back to the queue, ready now, in one transaction. */
  async redriveDeadLetters(queue: string, ids: readonly string[]): Promise<number> {
    await this.connect();
    const rows = deadLetterRowIds(ids);
    if (rows.length === 0) return 0;
    const moved = this.store().redrive(queue, rows, Date.now());
    this.changeFeed?.notifyLocal();
    return moved;
  }

  /** The dead letters of a queue, oldest first (rejected without requeue, expired, or undecodable). */
  async deadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    await this.connect();
    return this.store().deadLetters(queue, limit).map(toDeadLetter);
  }

  /**
   * Stops consumers, commits pending settles, then releases every lease still held
   * (`lease_until = 0`) so those messages are delivered again at once, flagged redelivered.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.broadcasting.close();
    this.stopListening();
    await this.core.stop(this.messageStore !== undefined);
    this.closed = true;
    this.changeFeed?.release();
    this.handle?.release();
    this.handle = undefined;
    this.messageStore = undefined;
  }
}

/** The factory the broker registry calls for `sqlite://` URLs. */
export function createSqliteBroker(url: string, options: BrokerFactoryOptions = {}): SqliteBroker {
  return new SqliteBroker(url, options);
}
