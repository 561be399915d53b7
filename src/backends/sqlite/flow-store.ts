/**
 * The flow store in SQLite: buckets, slot leases and claims in three tables beside the
 * result backend's, each change one short `BEGIN IMMEDIATE` transaction, so workers in
 * other processes on the same file never see a half-made step. Expired rows are ignored
 * and pruned by the next write on the same key.
 */
import type Database from 'better-sqlite3';
import {
  ensureSchema,
  openDatabase,
  tableName,
  type DbHandle,
} from '../../connections/sqlite/database.js';
import type { SqliteLocation } from '../../connections/sqlite/sqlite-url.js';
import {
  takeToken,
  tokensAt,
  type BucketState,
  type FlowEntry,
  type FlowStore,
  type RateSpec,
  type SlotLease,
  type TakeResult,
} from '../flow-store.js';

export class SqliteFlowStore implements FlowStore {
  private handle: DbHandle | undefined;
  private readonly buckets: string;
  private readonly slots: string;
  private readonly claims: string;
  private writes = 0;

  constructor(
    private readonly location: SqliteLocation,
    prefix: string,
  ) {
    this.buckets = tableName(prefix, 'flow_buckets');
    this.slots = tableName(prefix, 'flow_slots');
    this.claims = tableName(prefix, 'flow_claims');
  }

  private get db(): Database.Database {
    if (!this.handle) {
      const handle = openDatabase(this.location);
      ensureSchema(handle, [
        `CREATE TABLE IF NOT EXISTS ${this.buckets} (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at INTEGER NOT NULL, rate REAL NOT NULL, burst REAL NOT NULL)`,
        `CREATE TABLE IF NOT EXISTS ${this.slots} (key TEXT NOT NULL, holder TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (key, holder))`,
        `CREATE TABLE IF NOT EXISTS ${this.claims} (key TEXT PRIMARY KEY, task_id TEXT NOT NULL, until INTEGER NOT NULL)`,
      ]);
      this.handle = handle;
    }
    return this.handle.db;
  }

  open(): Promise<void> {
    void this.db;
    return Promise.resolve();
  }

  take(key: string, rate: RateSpec, now: number, reserveMs = 0): Promise<TakeResult> {
    const db = this.db;
    const outcome = db
      .transaction((): TakeResult => {
        const row = db
          .prepare(`SELECT tokens, at, rate, burst FROM ${this.buckets} WHERE key = ?`)
          .get(key) as BucketState | undefined;
        const { state, result } = takeToken(row, rate, now, reserveMs);
        db.prepare(
          `INSERT INTO ${this.buckets} (key, tokens, at, rate, burst) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, rate = excluded.rate, burst = excluded.burst`,
        ).run(key, state.tokens, state.at, state.rate, state.burst);
        // A full bucket is the same as none: per-key buckets would pile up otherwise.
        if (++this.writes % 1000 === 0)
          db.prepare(`DELETE FROM ${this.buckets} WHERE tokens + (? - at) * rate >= burst`).run(
            now,
          );
        return result;
      })
      .immediate();
    return Promise.resolve(outcome);
  }

  acquire(
    key: string,
    holder: string,
    limit: number,
    leaseMs: number,
    now: number,
  ): Promise<boolean> {
    const db = this.db;
    const held = db
      .transaction((): boolean => {
        db.prepare(`DELETE FROM ${this.slots} WHERE key = ? AND expires_at <= ?`).run(key, now);
        const renewed = db
          .prepare(`UPDATE ${this.slots} SET expires_at = ? WHERE key = ? AND holder = ?`)
          .run(now + leaseMs, key, holder);
        if (renewed.changes > 0) return true;
        const { n } = db
          .prepare(`SELECT COUNT(*) AS n FROM ${this.slots} WHERE key = ?`)
          .get(key) as {
          n: number;
        };
        if (n >= limit) return false;
        db.prepare(`INSERT INTO ${this.slots} (key, holder, expires_at) VALUES (?, ?, ?)`).run(
          key,
          holder,
          now + leaseMs,
        );
        return true;
      })
      .immediate();
    return Promise.resolve(held);
  }

  renew(leases: readonly SlotLease[], leaseMs: number, now: number): Promise<void> {
    const db = this.db;
    const update = db.prepare(
      `UPDATE ${this.slots} SET expires_at = ? WHERE key = ? AND holder = ? AND expires_at > ?`,
    );
    db.transaction(() => {
      for (const { key, holder } of leases) update.run(now + leaseMs, key, holder, now);
    }).immediate();
    return Promise.resolve();
  }

  release(key: string, holder: string): Promise<void> {
    this.db.prepare(`DELETE FROM ${this.slots} WHERE key = ? AND holder = ?`).run(key, holder);
    return Promise.resolve();
  }

  claim(key: string, taskId: string, windowMs: number, now: number): Promise<string> {
    const db = this.db;
    const owner = db
      .transaction((): string => {
        const row = db
          .prepare(`SELECT task_id, until FROM ${this.claims} WHERE key = ?`)
          .get(key) as { task_id: string; until: number } | undefined;
        if (row && row.until > now) return row.task_id;
        db.prepare(
          `INSERT INTO ${this.claims} (key, task_id, until) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, until = excluded.until`,
        ).run(key, taskId, now + windowMs);
        return taskId;
      })
      .immediate();
    return Promise.resolve(owner);
  }

  unclaim(key: string, taskId: string): Promise<void> {
    this.db.prepare(`DELETE FROM ${this.claims} WHERE key = ? AND task_id = ?`).run(key, taskId);
    return Promise.resolve();
  }

  inspect(prefix: string, now: number): Promise<FlowEntry[]> {
    const db = this.db;
    // A range, not LIKE: a prefix may hold `%` or `_`.
    const end = `${prefix}\uffff`;
    const entries: FlowEntry[] = [];
    const buckets = db
      .prepare(
        `SELECT key, tokens, at, rate, burst FROM ${this.buckets} WHERE key >= ? AND key < ?`,
      )
      .all(prefix, end) as Array<BucketState & { key: string }>;
    for (const row of buckets) {
      const tokens = tokensAt(row, now);
      if (tokens < row.burst) entries.push({ key: row.key, kind: 'bucket', tokens });
    }
    const slots = db
      .prepare(
        `SELECT key, COUNT(*) AS held FROM ${this.slots} WHERE key >= ? AND key < ? AND expires_at > ? GROUP BY key`,
      )
      .all(prefix, end, now) as Array<{ key: string; held: number }>;
    for (const row of slots) entries.push({ key: row.key, kind: 'slots', held: row.held });
    const claims = db
      .prepare(`SELECT key, task_id FROM ${this.claims} WHERE key >= ? AND key < ? AND until > ?`)
      .all(prefix, end, now) as Array<{ key: string; task_id: string }>;
    for (const row of claims) entries.push({ key: row.key, kind: 'claim', taskId: row.task_id });
    return Promise.resolve(entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }

  close(): Promise<void> {
    this.handle?.release();
    this.handle = undefined;
    return Promise.resolve();
  }
}
