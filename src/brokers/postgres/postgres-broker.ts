/**
 * The PostgreSQL broker: queues as rows of one table in a schema the user picks, claimed
 * with `FOR UPDATE SKIP LOCKED`, consumers woken by LISTEN/NOTIFY, leases renewed by a
 * heartbeat, native delayed delivery, priorities and dead letters. A publish can be
 * written through the user's own client inside their open transaction
 * (`PublishOptions.transaction`): delivered only if it commits. Remote control and events
 * go over LISTEN/NOTIFY (postgres-broadcasting.ts).
 * Must never decode a task (it moves kombu envelope text, as the SQLite and Redis brokers
 * store it) and never hold a row lock across an await of user code.
 */
import type { Pool } from 'pg';
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
import type { TransportMessage } from '../../protocol/types.js';
import { openPool, retryOnConnectionLoss, type Queryable } from '../../connections/pg/db-client.js';
import { migrate } from '../../connections/pg/migrations.js';
import { channelName, NotifyListener } from '../../connections/pg/notify-listener.js';
import {
  parsePostgresUrl,
  tablePrefix,
  type PostgresLocation,
} from '../../connections/pg/pg-url.js';
import { MessageStore, PIPELINE_CHUNK } from './message-store.js';
import { PostgresBroadcasting } from './postgres-broadcasting.js';
import {
  deadLetterRowIds,
  toDeadLetter,
  toDeadLetterInfo,
  toRow,
  type DeadLetter,
} from '../sql/queue-store.js';
import { SqlBrokerCore } from '../sql/sql-broker-core.js';
import type { SqlDelivery } from '../sql/sql-consumer.js';
import { databaseIdentity, type ResultCarrier } from '../../connections/pg/result-carrier.js';

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_POLL_MS = 5_000;
/** Seven days. */
export const DEFAULT_DEAD_LETTER_RETENTION_MS = 7 * 86_400_000;
const HOUSEKEEPING_EVERY_MS = 60_000;
const HOUSEKEEPING_BATCH = 1000;

export interface PostgresBrokerOptions extends BrokerFactoryOptions {
  /**
   * Prefix of the broker's table names inside the schema (`<prefix>messages`,
   * `<prefix>dead_letters`). The schema itself comes from the URL's `?schema=`.
   * @default ''
   */
  keyPrefix?: string | undefined;
  /**
   * How long a claimed message stays with its consumer without a heartbeat. The live
   * consumer renews it every `leaseMs / 3`; a killed one loses it after `leaseMs`.
   * @default 30000
   */
  leaseMs?: number | undefined;
  /**
   * The slow fallback poll of an idle consumer, in ms: covers a NOTIFY lost while the
   * LISTEN connection was down. Consumers are woken by NOTIFY, not by this.
   * @default 5000
   */
  pollMs?: number | undefined;
  /**
   * How long dead letters are kept, in ms; older ones are deleted in batches of 1000 by
   * a housekeeping pass every minute. 0 keeps them forever.
   * @default 604800000 (seven days)
   */
  deadLetterRetentionMs?: number | undefined;
  /** Connections in the broker's pool (the LISTEN connection comes on top). @default 10 */
  poolSize?: number | undefined;
  /**
   * Run the broker's statements as named prepared statements, parsed and planned once per
   * connection. Turn off behind a connection pooler that cannot keep them (PgBouncer before
   * 1.21 in transaction mode, or without `max_prepared_statements`).
   * @default true
   */
  preparedStatements?: boolean | undefined;
}

/** A dead-lettered message as `deadLetters()` lists it. */
export type PostgresDeadLetter = DeadLetter;

export class TransactionClientError extends CeleriacError {}

export class PostgresBroker implements Broker {
  readonly kind = 'postgres';
  readonly capabilities: BrokerCapabilities = {
    delayedDelivery: true,
    deadLetter: true,
    transactionalPublish: true,
  };
  readonly location: PostgresLocation;
  readonly schema: string;
  readonly tablePrefix: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly deadLetterRetentionMs: number;
  private pool: Pool | undefined;
  private workPool: Pool | undefined;
  private listener: NotifyListener | undefined;
  /** LISTEN on the queues' channel, from the first consume on (see `listenForQueues`). */
  private listening: Promise<void> | undefined;
  private messageStore: MessageStore | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private readonly core: SqlBrokerCore;
  private housekeepingTimer: NodeJS.Timeout | undefined;
  /** The deliveries this broker's consumers handed out: the ones `resultCarrier` may ack. */
  private readonly issued = new WeakSet<object>();
  /**
   * Where the app's PostgreSQL backend on this database hands a task's result, to be
   * written in the statement acking its message (ResultBackend.storeAndAck).
   */
  readonly resultCarrier: ResultCarrier;
  /**
   * Fanout, topic and reply routing for remote control and events, over LISTEN/NOTIFY
   * (larger messages through the `broadcasts` table).
   */
  readonly broadcasting = new PostgresBroadcasting({
    connection: async () => {
      await this.connect();
      const store = this.store();
      if (!this.pool || !this.listener)
        throw new BrokerConnectionError('The PostgreSQL broker is closed.');
      return {
        db: this.pool,
        listener: this.listener,
        sql: store.sql,
        channel: channelName(this.schema, this.tablePrefix, 'broadcast'),
      };
    },
  });

  constructor(
    url: string,
    private readonly options: PostgresBrokerOptions = {},
  ) {
    this.location = parsePostgresUrl(url);
    this.schema = this.location.schema;
    this.tablePrefix = tablePrefix(options.keyPrefix);
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.deadLetterRetentionMs = options.deadLetterRetentionMs ?? DEFAULT_DEAD_LETTER_RETENTION_MS;
    if (!(this.leaseMs > 0))
      throw new CeleriacError(`leaseMs must be a positive number of ms, got ${this.leaseMs}.`);
    this.resultCarrier = {
      database: databaseIdentity(this.location),
      // Expired deliveries (already dead-lettered) have nothing to ack: stored alone.
      ackWith: (delivery, result) =>
        this.closed || !this.issued.has(delivery) || !('ackCarrying' in delivery)
          ? undefined
          : (delivery as SqlDelivery).ackCarrying(result),
    };
    this.core = new SqlBrokerCore({
      label: 'PostgreSQL',
      leaseMs: this.leaseMs,
      pollMs: this.pollMs,
      store: () => this.store(),
      isClosed: () => this.closed,
      // Every statement checks the claim token, so a batch repeated on a fresh connection changes nothing twice.
      commitSettles: (ops, now) => retryOnConnectionLoss(() => this.store().settleBatch(ops, now)),
    });
  }

  /** Opens the pool, applies the migrations (under an advisory lock) and starts LISTENing. */
  connect(): Promise<void> {
    if (this.closed)
      return Promise.reject(
        new BrokerConnectionError('This PostgreSQL broker was closed; create a new one.'),
      );
    this.connecting ??= this.open().catch((error: unknown) => {
      this.connecting = undefined;
      throw error instanceof CeleriacError
        ? error
        : new BrokerConnectionError(
            `Could not connect the PostgreSQL broker: ${(error as Error).message}`,
            { cause: error },
          );
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const pool = await openPool(this.location, {
      max: this.options.poolSize,
      onError: (error) => this.core.reportError(error),
    });
    const workPool = await openPool(this.location, {
      max: this.options.poolSize,
      onError: (error) => this.core.reportError(error),
      asyncCommit: true,
    });
    const channel = channelName(this.schema, this.tablePrefix, 'queues');
    const store = new MessageStore(
      pool,
      workPool,
      this.schema,
      this.tablePrefix,
      channel,
      this.options.preparedStatements ?? true,
    );
    const listener = new NotifyListener(this.location, (error) => this.core.reportError(error));
    try {
      await migrate(pool, this.schema, store.sql.migrations);
    } catch (error) {
      await listener.close();
      await pool.end().catch(() => undefined);
      await workPool.end().catch(() => undefined);
      throw error;
    }
    // Notifications sent while the LISTEN connection was down are lost: look once.
    listener.onReconnect(() => this.core.wake());
    this.pool = pool;
    this.workPool = workPool;
    this.listener = listener;
    this.messageStore = store;
    if (this.deadLetterRetentionMs > 0) {
      this.housekeepingTimer = setInterval(() => void this.housekeeping(), HOUSEKEEPING_EVERY_MS);
      this.housekeepingTimer.unref();
    }
  }

  private store(): MessageStore {
    if (this.closed) throw new BrokerConnectionError('The PostgreSQL broker is closed.');
    if (!this.messageStore)
      throw new BrokerConnectionError(
        'The PostgreSQL broker is not connected: call connect() first.',
      );
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
    const db = transactionOf(batch);
    const encode = (from: number, to: number) =>
      batch.slice(from, to).map(({ message, options }) => toRow(message, options, now));
    try {
      // A large batch of our own: encoded chunk by chunk while the server inserts the one
      // before, in one transaction. In the user's transaction: one statement on their client.
      if (db === undefined && batch.length > PIPELINE_CHUNK)
        await this.store().insertPipelined(batch.length, encode, now);
      else await this.store().insert(encode(0, batch.length), now, db);
    } catch (error) {
      throw new BrokerConnectionError(
        `Could not publish ${batch.length} message(s) to PostgreSQL schema "${this.schema}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    await this.connect();
    await this.listenForQueues();
    const { onDelivery } = options;
    return this.core.consume({
      ...options,
      onDelivery: (delivery) => {
        this.issued.add(delivery);
        onDelivery(delivery);
      },
    });
  }

  /**
   * LISTENs on the queues' channel once, before the first consumer's first claim (so a row
   * published after that claim's snapshot still wakes it). Not at connect: a process that
   * only publishes would take every one of its own NOTIFYs back on its LISTEN connection
   * (a wake-up and a read per awaited publish) and hold that connection for nothing.
   */
  private listenForQueues(): Promise<void> {
    const listener = this.listener;
    if (!listener)
      return Promise.reject(new BrokerConnectionError('The PostgreSQL broker is closed.'));
    this.listening ??= listener
      .listen(this.store().channel, (queue) => this.core.wake(queue))
      .then(
        () => undefined,
        (error: unknown) => {
          this.listening = undefined;
          throw new BrokerConnectionError(
            `Could not LISTEN for the PostgreSQL broker's queues: ${(error as Error).message}`,
            { cause: error },
          );
        },
      );
    return this.listening;
  }

  async purge(queue: string): Promise<number> {
    await this.connect();
    return this.store().purge(queue, Date.now());
  }

  async queueLength(queue: string): Promise<number> {
    await this.connect();
    return this.store().length(queue, Date.now());
  }

  /** When the oldest waiting message of the queue was published (unix ms), or null when none waits. */
  async oldestMessageAt(queue: string): Promise<number | null> {
    await this.connect();
    return this.store().oldest(queue, Date.now());
  }

  async listDeadLetters(queue: string, limit: number): Promise<DeadLetterInfo[]> {
    return (await this.deadLetters(queue, limit)).map(toDeadLetterInfo);
  }

  /** Moves the letters back to the queue, ready now, each at most once. */
  async redriveDeadLetters(queue: string, ids: readonly string[]): Promise<number> {
    await this.connect();
    const rows = deadLetterRowIds(ids);
    if (rows.length === 0) return 0;
    return this.store().redrive(queue, rows, Date.now());
  }

  /** The dead letters of a queue, oldest first (rejected without requeue, expired, or undecodable). */
  async deadLetters(queue: string, limit = 100): Promise<PostgresDeadLetter[]> {
    await this.connect();
    return (await this.store().deadLetters(queue, limit)).map(toDeadLetter);
  }

  /**
   * Deletes dead letters past `deadLetterRetentionMs`, in batches (short statements, no
   * long lock). Runs every minute on its own; returns how many it deleted.
   */
  async housekeeping(now = Date.now()): Promise<number> {
    if (this.deadLetterRetentionMs <= 0 || this.closed) return 0;
    try {
      return await this.store().deleteOldDeadLetters(
        now - this.deadLetterRetentionMs,
        HOUSEKEEPING_BATCH,
      );
    } catch (error) {
      this.core.reportError(error as Error);
      return 0;
    }
  }

  /**
   * Stops consumers, commits pending settles, then releases every lease still held
   * (`lease_until = 0`) so those messages are delivered again at once, flagged redelivered.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.housekeepingTimer);
    if (this.connecting) await this.connecting.catch(() => undefined);
    await this.core.stop(this.messageStore !== undefined);
    await this.broadcasting.close();
    this.closed = true;
    await this.listener?.close();
    await this.pool?.end().catch(() => undefined);
    await this.workPool?.end().catch(() => undefined);
    this.pool = undefined;
    this.workPool = undefined;
    this.listener = undefined;
    this.listening = undefined;
    this.messageStore = undefined;
  }
}

/** The user's client when the batch is published inside their transaction (one client for all). */
function transactionOf(batch: ReadonlyArray<{ options: PublishOptions }>): Queryable | undefined {
  const given = batch[0]?.options.transaction;
  if (batch.some((entry) => entry.options.transaction !== given))
    throw new TransactionClientError(
      'A publishMany batch must use one transaction for every message, or none.',
    );
  if (given === undefined) return undefined;
  if (typeof (given as Partial<Queryable>).query !== 'function')
    throw new TransactionClientError(
      'PublishOptions.transaction must be a pg client (pg.Client or pg.PoolClient) inside an open transaction, ' +
        'or anything with a query(text, values) method such as the client under Kysely or Drizzle.',
    );
  return given as Queryable;
}

/** The factory the broker registry calls for `postgres://` and `postgresql://` URLs. */
export function createPostgresBroker(
  url: string,
  options: BrokerFactoryOptions = {},
): PostgresBroker {
  return new PostgresBroker(url, options);
}
