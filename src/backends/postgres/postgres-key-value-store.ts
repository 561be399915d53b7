/**
 * The key-value primitives (`KeyValueStore`) over PostgreSQL, so the shared key-value base
 * derives the result backend, revocations, worker registry and beat store from them:
 * values with expiry in one table, `incr` as one upsert, compare-and-set in one
 * transaction holding advisory locks on its keys (an absent key is locked as surely as a
 * present one), prefix listing as a range scan, and publish/subscribe over one
 * LISTEN/NOTIFY channel per schema and prefix. Must never interpret a value.
 */
import type { Pool } from 'pg';
import type { KeyExpectation, KeyValueStore, KeyWrite } from '../key-value/key-value-store.js';
import { BrokerConnectionError, CeleriacError } from '../../errors.js';
import {
  inTransaction,
  openPool,
  retryOnConnectionLoss,
  type Queryable,
} from '../../connections/pg/db-client.js';
import { migrate } from '../../connections/pg/migrations.js';
import { channelName, NotifyListener } from '../../connections/pg/notify-listener.js';
import type { PostgresLocation } from '../../connections/pg/pg-url.js';
import {
  batchPayloads,
  MAX_NOTIFY_BYTES,
  type CarriedResult,
  type ResultTarget,
} from '../../connections/pg/result-carrier.js';
import { keyValueSql, type KeyValueSql } from './key-value-sql.js';

export { batchPayloads };
const HOUSEKEEPING_EVERY_MS = 60_000;
const HOUSEKEEPING_BATCH = 1000;
/** Large notices are read by listeners within moments; an hour is ample. */
const NOTICE_KEEP_MS = 3_600_000;

export class PostgresKeyValueStore implements KeyValueStore {
  private readonly sql: KeyValueSql;
  private readonly channel: string;
  /** Where a broker on the same database writes the results it carries (result-carrier.ts). */
  private readonly target: ResultTarget;
  private pool: Pool | undefined;
  /** Result stores only, with asynchronous commit (see `setAndPublish`). */
  private storePool: Pool | undefined;
  private listener: NotifyListener | undefined;
  private connecting: Promise<void> | undefined;
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private listening: Promise<unknown> | undefined;
  private housekeepingTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private pendingStores: Array<{
    row: [string, string, number];
    /** `[channel, message]` as JSON: one element of a batch notification. */
    payload: string;
    resolve: () => void;
    reject: (error: Error) => void;
  }> = [];

  constructor(
    private readonly location: PostgresLocation,
    prefix: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {
    this.sql = keyValueSql(location.schema, prefix);
    this.channel = channelName(location.schema, prefix, 'kv');
    this.target = { table: this.sql.table, channel: this.channel };
  }

  /**
   * The row and notification `setAndPublish` would write, for a broker to write with an
   * ack; undefined when the notification is too large for one NOTIFY (then the two steps).
   */
  carriedResult(
    key: string,
    value: string,
    options: { ttlMs?: number } = {},
  ): CarriedResult | undefined {
    const payload = JSON.stringify([key, value]);
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) return undefined;
    return {
      target: this.target,
      key,
      value,
      expiresAt: expiresAt(options.ttlMs, Date.now()),
      payload,
    };
  }

  /** Connected, its tables migrated, and not closed. */
  get ready(): boolean {
    return this.pool !== undefined && !this.closed;
  }

  connect(): Promise<void> {
    if (this.closed)
      return Promise.reject(
        new BrokerConnectionError('This PostgreSQL store was closed; create a new one.'),
      );
    this.connecting ??= (async () => {
      const pool = await openPool(this.location, { max: 5, onError: this.onError });
      try {
        await migrate(pool, this.location.schema, this.sql.migrations);
      } catch (error) {
        await pool.end().catch(() => undefined);
        throw error;
      }
      this.pool = pool;
      this.storePool = await openPool(this.location, {
        max: 3,
        onError: this.onError,
        asyncCommit: true,
      });
      this.housekeepingTimer = setInterval(() => void this.housekeeping(), HOUSEKEEPING_EVERY_MS);
      this.housekeepingTimer.unref();
    })().catch((error: unknown) => {
      this.connecting = undefined;
      throw error instanceof CeleriacError
        ? error
        : new BrokerConnectionError(
            `Could not connect the PostgreSQL result backend: ${(error as Error).message}`,
            { cause: error },
          );
    });
    return this.connecting;
  }

  private async db(): Promise<Queryable> {
    await this.connect();
    if (!this.pool || this.closed)
      throw new BrokerConnectionError('The PostgreSQL result backend is closed.');
    return this.pool;
  }

  async get(key: string): Promise<string | undefined> {
    const { rows } = await (
      await this.db()
    ).query<{ value: string }>(this.sql.get, [key, Date.now()]);
    return rows[0]?.value;
  }

  async mget(keys: readonly string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    const { rows } = await (
      await this.db()
    ).query<{ key: string; value: string }>(this.sql.mget, [keys, Date.now()]);
    const found = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => found.get(key));
  }

  async set(key: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    await (
      await this.db()
    ).query(this.sql.set, [[key], [value], [expiresAt(options.ttlMs, Date.now())]]);
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await (await this.db()).query(this.sql.delete, [keys]);
  }

  async incr(key: string): Promise<number> {
    const { rows } = await (
      await this.db()
    ).query<{ value: string }>(this.sql.incr, [key, Date.now()]);
    return Number(rows[0]?.value);
  }

  async compareAndSet(
    expect: readonly KeyExpectation[],
    writes: readonly KeyWrite[],
  ): Promise<boolean> {
    await this.db();
    const pool = this.pool;
    if (!pool) throw new BrokerConnectionError('The PostgreSQL result backend is closed.');
    const keys = [...new Set([...expect.map((e) => e.key), ...writes.map((w) => w.key)])];
    return inTransaction(pool, async (db) => {
      await db.query(this.sql.lockKeys, [keys]);
      const now = Date.now();
      const { rows } = await db.query<{ key: string; value: string }>(this.sql.mget, [
        expect.map((e) => e.key),
        now,
      ]);
      const current = new Map(rows.map((row) => [row.key, row.value]));
      if (!expect.every((e) => current.get(e.key) === e.value)) return false;
      const removed = writes.filter((w) => w.value === undefined).map((w) => w.key);
      const stored = writes.filter((w): w is KeyWrite & { value: string } => w.value !== undefined);
      if (removed.length) await db.query(this.sql.delete, [removed]);
      if (stored.length)
        await db.query(this.sql.set, [
          stored.map((w) => w.key),
          stored.map((w) => w.value),
          stored.map((w) => expiresAt(w.ttlMs, now)),
        ]);
      return true;
    });
  }

  async keys(prefix: string): Promise<string[]> {
    const { rows } = await (
      await this.db()
    ).query<{ key: string }>(this.sql.keys, [prefix, Date.now(), `${prefix}\u{10FFFF}`]);
    return rows.map((row) => row.key);
  }

  /**
   * `set` and `publish` in one statement, with the other calls of the same event-loop turn
   * (a worker finishing many tasks at once): one round trip and one commit for all of them.
   * The commit is asynchronous (it returns before the WAL reaches the disk): a database crash
   * may forget the last moment of results, but WAL order keeps each ahead of the ack the
   * worker sends after it, so a forgotten result's task is delivered and run again.
   */
  setAndPublish(key: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    const payload = JSON.stringify([key, value]);
    // Too large for one NOTIFY: the two steps, the notice travelling through its table.
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES)
      return this.set(key, value, options).then(() => this.publish(key, value));
    return new Promise((resolve, reject) => {
      this.pendingStores.push({
        row: [key, value, expiresAt(options.ttlMs, Date.now())],
        payload,
        resolve,
        reject,
      });
      if (this.pendingStores.length === 1) setImmediate(() => void this.flushStores());
    });
  }

  private async flushStores(): Promise<void> {
    const batch = this.pendingStores;
    this.pendingStores = [];
    try {
      await this.db();
      const db = this.storePool as unknown as Queryable;
      await retryOnConnectionLoss(() =>
        db.query(this.sql.setAndNotify, [
          JSON.stringify(batch.map((entry) => entry.row)),
          this.channel,
          batchPayloads(batch.map((entry) => entry.payload)),
        ]),
      );
      for (const entry of batch) entry.resolve();
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    const db = await this.db();
    let payload = JSON.stringify([channel, message]);
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) {
      const { rows } = await db.query<{ id: number }>(this.sql.storeNotice, [
        channel,
        message,
        Date.now(),
      ]);
      payload = JSON.stringify([channel, null, rows[0]?.id]);
    }
    await db.query(this.sql.notify, [this.channel, payload]);
  }

  async subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<() => Promise<void>> {
    await this.db();
    let listeners = this.channels.get(channel);
    if (!listeners) this.channels.set(channel, (listeners = new Set()));
    const own = (message: string) => listener(message);
    listeners.add(own);
    this.listener ??= new NotifyListener(this.location, this.onError);
    this.listening ??= this.listener.listen(this.channel, (payload) => this.dispatch(payload));
    try {
      await this.listening;
    } catch (error) {
      this.listening = undefined;
      listeners.delete(own);
      throw error;
    }
    return () => {
      const set = this.channels.get(channel);
      set?.delete(own);
      if (set && set.size === 0) this.channels.delete(channel);
      return Promise.resolve();
    };
  }

  private dispatch(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      this.onError(
        new CeleriacError(`Ignored a malformed PostgreSQL notification: ${payload.slice(0, 80)}`),
      );
      return;
    }
    if (!Array.isArray(parsed)) return;
    // A batch of stores: `[[channel, message], ...]`; otherwise one `[channel, message | null, id?]`.
    if (Array.isArray(parsed[0]))
      for (const [channel, message] of parsed as Array<[string, string]>)
        this.dispatchOne(channel, message, undefined);
    else {
      const [channel, message, id] = parsed as [string, string | null, number?];
      this.dispatchOne(channel, message, id);
    }
  }

  private dispatchOne(channel: string, message: string | null, id: number | undefined): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    const deliver = (text: string) => {
      for (const listener of [...listeners]) {
        try {
          listener(text);
        } catch (error) {
          this.onError(error as Error);
        }
      }
    };
    if (message !== null) deliver(message);
    else if (id !== undefined)
      void this.db()
        .then((db) => db.query<{ message: string }>(this.sql.readNotice, [id]))
        .then(({ rows }) => rows[0] && deliver(rows[0].message))
        .catch((error: Error) => this.onError(error));
  }

  /** Deletes expired keys and old notices in short batches; runs every minute on its own. */
  async housekeeping(now = Date.now()): Promise<number> {
    if (this.closed || !this.pool) return 0;
    const db = this.pool as unknown as Queryable;
    let total = 0;
    try {
      for (const [sql, before] of [
        [this.sql.deleteExpired, now],
        [this.sql.deleteOldNotices, now - NOTICE_KEEP_MS],
      ] as const) {
        for (;;) {
          const n = (await db.query(sql, [before, HOUSEKEEPING_BATCH])).rowCount ?? 0;
          total += n;
          if (n < HOUSEKEEPING_BATCH) break;
        }
      }
    } catch (error) {
      this.onError(error as Error);
    }
    return total;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pendingStores.length) await this.flushStores(); // stores already asked for are written, not dropped
    this.closed = true;
    clearInterval(this.housekeepingTimer);
    await this.connecting?.catch(() => undefined);
    this.channels.clear();
    await this.listener?.close();
    await this.pool?.end().catch(() => undefined);
    await this.storePool?.end().catch(() => undefined);
    this.pool = undefined;
    this.storePool = undefined;
  }
}

function expiresAt(ttlMs: number | undefined, now: number): number {
  return ttlMs !== undefined && ttlMs > 0 && Number.isFinite(ttlMs) ? now + ttlMs : 0;
}
