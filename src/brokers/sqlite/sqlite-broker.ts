/**
 * The embedded default broker: queues as rows of one SQLite file that a web process and
 * several worker processes share safely (WAL, `BEGIN IMMEDIATE` claims, leases renewed by
 * a heartbeat). Native delayed delivery, priorities and dead letters.
 * Must never decode a task (it moves envelope text) and never block the event loop on a
 * long transaction.
 */
import { hostname } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
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
import { decodeEnvelope, encodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { acquireChangeFeed, type ChangeFeed } from '../../connections/sqlite/change-feed.js';
import { openAsPromise, openWith, type DbHandle } from '../../connections/sqlite/database.js';
import { LeaseKeeper } from './lease-keeper.js';
import { MessageStore, type SettleOp, type StoredRow } from './message-store.js';
import { SettleBatcher } from './settle-batcher.js';
import { SqliteConsumer } from './sqlite-consumer.js';
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

/** A dead-lettered message as `deadLetters()` lists it. */
export interface DeadLetter {
  id: number;
  queue: string;
  reason: string;
  /** Unix ms. */
  deadAt: number;
  deliveries: number;
  /** The stored kombu envelope, as is (it may be the undecodable text). */
  envelope: string;
  /** The decoded message, when the envelope decodes. */
  message: TransportMessage | undefined;
}

export class SqliteBroker implements Broker {
  readonly kind = 'sqlite';
  readonly capabilities: BrokerCapabilities = { delayedDelivery: true, deadLetter: true };
  readonly location: SqliteLocation;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  private handle: DbHandle | undefined;
  private messageStore: MessageStore | undefined;
  private changeFeed: ChangeFeed | undefined;
  private closed = false;
  private readonly consumers = new Set<SqliteConsumer>();
  private readonly consumerErrors = new Set<(error: Error) => void>();
  private readonly tag = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private claims = 0;
  private readonly batcher = new SettleBatcher(
    () => this.store(),
    (freedRows) => {
      if (freedRows) this.changeFeed?.notifyLocal();
    },
  );
  private readonly leases: LeaseKeeper;

  constructor(url: string, options: SqliteBrokerOptions = {}) {
    this.location = parseSqliteUrl(url);
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!(this.leaseMs > 0))
      throw new CeleriacError(`leaseMs must be a positive number of ms, got ${this.leaseMs}.`);
    this.leases = new LeaseKeeper(
      () => this.store(),
      this.leaseMs,
      (error) => this.broadcastError(error),
    );
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
    if (options.onError) this.consumerErrors.add(options.onError);
    const consumer = new SqliteConsumer(
      {
        store: () => this.store(),
        feed,
        leases: this.leases,
        leaseMs: this.leaseMs,
        newClaimToken: () => `${this.tag}:${(this.claims += 1)}`,
        settle: (op: SettleOp) => this.batcher.settle(op),
        isClosed: () => this.closed,
      },
      options,
    );
    this.consumers.add(consumer);
    const cancel = consumer.cancel.bind(consumer);
    return {
      cancel: async () => {
        this.consumers.delete(consumer);
        if (options.onError) this.consumerErrors.delete(options.onError);
        await cancel();
      },
    };
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
    return (await this.deadLetters(queue, limit)).map((letter) => ({
      id: String(letter.id),
      queue: letter.queue,
      reason: letter.reason,
      deadAt: letter.deadAt,
      message: letter.message,
    }));
  }

  /** Moves the letters back to the queue, ready now, in one transaction. */
  async redriveDeadLetters(queue: string, ids: readonly string[]): Promise<number> {
    await this.connect();
    const rows = ids.map(Number).filter((id) => Number.isSafeInteger(id));
    if (rows.length === 0) return 0;
    const moved = this.store().redrive(queue, rows, Date.now());
    this.changeFeed?.notifyLocal();
    return moved;
  }

  /** The dead letters of a queue, oldest first (rejected without requeue, or undecodable). */
  async deadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    await this.connect();
    return this.store()
      .deadLetters(queue, limit)
      .map((row) => ({
        id: row.id,
        queue: row.queue,
        reason: row.reason,
        deadAt: row.dead_at,
        deliveries: row.deliveries,
        envelope: row.envelope,
        message: tryDecode(row.envelope),
      }));
  }

  /**
   * Stops consumers, commits pending settles, then releases every lease still held
   * (`lease_until = 0`) so those messages are delivered again at once, flagged redelivered.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const consumer of this.consumers) await consumer.cancel();
    this.consumers.clear();
    if (this.messageStore) {
      await this.batcher.drain();
      // Settles asked for while we awaited: commit them in this same synchronous stretch,
      // so no ack is pending when its lease is released below.
      this.batcher.flushNow();
      const held = [...this.leases.held].filter((lease) => !lease.lost);
      this.leases.stop();
      this.leases.held.clear();
      if (held.length) {
        try {
          this.messageStore.settleBatch(
            held.map((lease) => ({ kind: 'release', id: lease.id, owner: lease.owner })),
            Date.now(),
          );
          this.changeFeed?.notifyLocal();
        } catch {
          // Could not release now: the leases simply expire after leaseMs.
        }
      }
    }
    this.closed = true;
    this.changeFeed?.release();
    this.handle?.release();
    this.handle = undefined;
    this.messageStore = undefined;
  }

  private broadcastError(error: Error): void {
    for (const onError of this.consumerErrors) onError(error);
  }
}

function toRow(message: TransportMessage, options: PublishOptions, now: number): StoredRow {
  const priority = Math.max(
    0,
    Math.min(255, Math.round(options.priority ?? message.properties.priority ?? 0)),
  );
  const stamped: TransportMessage = {
    ...message,
    properties: {
      ...message.properties,
      priority,
      delivery_info: { exchange: '', routing_key: options.queue },
    },
  };
  const deliverAt =
    options.deliverAt !== undefined && options.deliverAt > now ? Math.ceil(options.deliverAt) : 0;
  return {
    queue: options.queue,
    priority,
    deliverAt,
    envelope: encodeEnvelope(stamped, randomUUID()),
  };
}

function tryDecode(envelope: string): TransportMessage | undefined {
  try {
    return decodeEnvelope(envelope);
  } catch {
    return undefined;
  }
}

/** The factory the broker registry calls for `sqlite://` URLs. */
export function createSqliteBroker(url: string, options: BrokerFactoryOptions = {}): SqliteBroker {
  return new SqliteBroker(url, options);
}
