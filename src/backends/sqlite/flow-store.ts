/**
 * The flow store in SQLite: buckets, slot leases, claims, debounce windows and fairness
 * queues in tables beside the result backend's, each change one short `BEGIN IMMEDIATE` transaction, so workers in
 * other processes on the same file never see a half-made step. Expired rows are ignored
 * and pruned by the next write on the same key.
 */
import { EventEmitter } from 'node:events';
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
  type DebounceResult,
  type DebounceTake,
  type FairItem,
  type FlowEntry,
  type FlowStore,
  type RateSpec,
  type SlotLease,
  type TakeResult,
} from '../flow-store.js';

/**
 * Slot releases heard within this process, per database file and table: SQLite has no way
 * to tell another process, so a worker in another process finds a freed slot by its
 * waiter's slow retry instead.
 */
const releaseChannels = new Map<string, EventEmitter>();

function releaseChannel(name: string): EventEmitter {
  let channel = releaseChannels.get(name);
  if (!channel) {
    channel = new EventEmitter();
    channel.setMaxListeners(0);
    releaseChannels.set(name, channel);
  }
  return channel;
}

export class SqliteFlowStore implements FlowStore {
  private handle: DbHandle | undefined;
  private readonly buckets: string;
  private readonly slots: string;
  private readonly claims: string;
  private readonly debounces: string;
  private readonly debounceRuns: string;
  private readonly fairItems: string;
  private readonly fairKeys: string;
  private writes = 0;
  private readonly instance = Math.random().toString(36).slice(2);

  constructor(
    private readonly location: SqliteLocation,
    private readonly prefix: string,
  ) {
    this.buckets = tableName(prefix, 'flow_buckets');
    this.slots = tableName(prefix, 'flow_slots');
    this.claims = tableName(prefix, 'flow_claims');
    this.debounces = tableName(prefix, 'flow_debounces');
    this.debounceRuns = tableName(prefix, 'flow_debounce_runs');
    this.fairItems = tableName(prefix, 'flow_fair_items');
    this.fairKeys = tableName(prefix, 'flow_fair_keys');
  }

  private get db(): Database.Database {
    if (!this.handle) {
      const handle = openDatabase(this.location);
      ensureSchema(handle, [
        `CREATE TABLE IF NOT EXISTS ${this.buckets} (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at INTEGER NOT NULL, rate REAL NOT NULL, burst REAL NOT NULL)`,
        `CREATE TABLE IF NOT EXISTS ${this.slots} (key TEXT NOT NULL, holder TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (key, holder))`,
        `CREATE TABLE IF NOT EXISTS ${this.claims} (key TEXT PRIMARY KEY, task_id TEXT NOT NULL, until INTEGER NOT NULL)`,
        `CREATE TABLE IF NOT EXISTS ${this.debounces} (key TEXT PRIMARY KEY, task_id TEXT NOT NULL, payload TEXT NOT NULL, due_at INTEGER NOT NULL, until INTEGER NOT NULL)`,
        `CREATE TABLE IF NOT EXISTS ${this.debounceRuns} (task_id TEXT PRIMARY KEY, payload TEXT NOT NULL, until INTEGER NOT NULL)`,
        // One row per queued task; `token` is the delivery that took it (null: still queued).
        `CREATE TABLE IF NOT EXISTS ${this.fairItems} (seq INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, token TEXT)`,
        `CREATE INDEX IF NOT EXISTS ${tableName(this.prefix, 'flow_fair_items_queued')} ON ${this.fairItems} (grp, key, token, seq)`,
        `CREATE INDEX IF NOT EXISTS ${tableName(this.prefix, 'flow_fair_items_token')} ON ${this.fairItems} (grp, token)`,
        // The rotation: keys with queued tasks, the lowest turn served next.
        `CREATE TABLE IF NOT EXISTS ${this.fairKeys} (grp TEXT NOT NULL, key TEXT NOT NULL, turn INTEGER NOT NULL, PRIMARY KEY (grp, key))`,
        `CREATE INDEX IF NOT EXISTS ${tableName(this.prefix, 'flow_fair_keys_turn')} ON ${this.fairKeys} (grp, turn)`,
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
    const freed = this.db
      .prepare(`DELETE FROM ${this.slots} WHERE key = ? AND holder = ?`)
      .run(key, holder).changes;
    if (freed > 0) releaseChannels.get(this.channelName)?.emit('released', key);
    return Promise.resolve();
  }

  /** Within this process only (see `releaseChannels`). */
  watchReleases(onRelease: (key: string) => void): Promise<() => Promise<void>> {
    const channel = releaseChannel(this.channelName);
    channel.on('released', onRelease);
    return Promise.resolve(() => {
      channel.off('released', onRelease);
      if (channel.listenerCount('released') === 0) releaseChannels.delete(this.channelName);
      return Promise.resolve();
    });
  }

  /** One channel per file and table; an in-memory database is this store's alone. */
  private get channelName(): string {
    return this.location.memory
      ? `${this.slots}\u0000${this.instance}`
      : `${this.location.filename}\u0000${this.slots}`;
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

  debounce(
    key: string,
    taskId: string,
    payload: string,
    quietMs: number,
    now: number,
    keepMs: number,
  ): Promise<DebounceResult> {
    const db = this.db;
    const outcome = db
      .transaction((): DebounceResult => {
        const dueAt = now + quietMs;
        const row = db
          .prepare(`SELECT task_id FROM ${this.debounces} WHERE key = ? AND until > ?`)
          .get(key, now) as { task_id: string } | undefined;
        if (row) {
          db.prepare(
            `UPDATE ${this.debounces} SET payload = ?, due_at = ?, until = ? WHERE key = ?`,
          ).run(payload, dueAt, dueAt + keepMs, key);
          return { taskId: row.task_id, opened: false };
        }
        db.prepare(
          `INSERT INTO ${this.debounces} (key, task_id, payload, due_at, until) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, payload = excluded.payload, due_at = excluded.due_at, until = excluded.until`,
        ).run(key, taskId, payload, dueAt, dueAt + keepMs);
        return { taskId, opened: true };
      })
      .immediate();
    return Promise.resolve(outcome);
  }

  debounceTake(key: string, taskId: string, now: number, keepMs: number): Promise<DebounceTake> {
    const db = this.db;
    const outcome = db
      .transaction((): DebounceTake => {
        const ran = db
          .prepare(`SELECT payload FROM ${this.debounceRuns} WHERE task_id = ? AND until > ?`)
          .get(taskId, now) as { payload: string } | undefined;
        if (ran) return { kind: 'run', payload: ran.payload };
        const open = db
          .prepare(
            `SELECT payload, due_at FROM ${this.debounces} WHERE key = ? AND task_id = ? AND until > ?`,
          )
          .get(key, taskId, now) as { payload: string; due_at: number } | undefined;
        if (!open) return { kind: 'unknown' };
        if (open.due_at > now) return { kind: 'wait', dueAt: open.due_at };
        db.prepare(`DELETE FROM ${this.debounces} WHERE key = ?`).run(key);
        db.prepare(`DELETE FROM ${this.debounceRuns} WHERE until <= ?`).run(now);
        db.prepare(
          `INSERT OR REPLACE INTO ${this.debounceRuns} (task_id, payload, until) VALUES (?, ?, ?)`,
        ).run(taskId, open.payload, now + keepMs);
        return { kind: 'run', payload: open.payload };
      })
      .immediate();
    return Promise.resolve(outcome);
  }

  debounceDrop(key: string, taskId: string): Promise<void> {
    this.db.prepare(`DELETE FROM ${this.debounces} WHERE key = ? AND task_id = ?`).run(key, taskId);
    return Promise.resolve();
  }

  fairPush(group: string, key: string, id: string, payload: string): Promise<void> {
    const db = this.db;
    db.transaction(() => {
      db.prepare(
        `INSERT INTO ${this.fairItems} (grp, key, id, payload, token) VALUES (?, ?, ?, ?, NULL)`,
      ).run(group, key, id, payload);
      // A key joining the rotation is served next: a turn below every other.
      db.prepare(
        `INSERT INTO ${this.fairKeys} (grp, key, turn)
         SELECT ?, ?, COALESCE((SELECT MIN(turn) FROM ${this.fairKeys} WHERE grp = ?), 0) - 1
         WHERE true ON CONFLICT (grp, key) DO NOTHING`,
      ).run(group, key, group);
    }).immediate();
    return Promise.resolve();
  }

  fairRemove(group: string, key: string, id: string): Promise<void> {
    const db = this.db;
    db.transaction(() => {
      db.prepare(
        `DELETE FROM ${this.fairItems} WHERE grp = ? AND key = ? AND id = ? AND token IS NULL`,
      ).run(group, key, id);
      this.dropKeyIfEmpty(group, key);
    }).immediate();
    return Promise.resolve();
  }

  fairTake(group: string, token: string): Promise<FairItem | undefined> {
    const db = this.db;
    const item = db
      .transaction((): FairItem | undefined => {
        const taken = db
          .prepare(`SELECT id, payload FROM ${this.fairItems} WHERE grp = ? AND token = ?`)
          .get(group, token) as FairItem | undefined;
        if (taken) return taken;
        for (;;) {
          const next = db
            .prepare(`SELECT key FROM ${this.fairKeys} WHERE grp = ? ORDER BY turn LIMIT 1`)
            .get(group) as { key: string } | undefined;
          if (!next) return undefined;
          const head = db
            .prepare(
              `SELECT seq, id, payload FROM ${this.fairItems} WHERE grp = ? AND key = ? AND token IS NULL ORDER BY seq LIMIT 1`,
            )
            .get(group, next.key) as (FairItem & { seq: number }) | undefined;
          if (!head) {
            db.prepare(`DELETE FROM ${this.fairKeys} WHERE grp = ? AND key = ?`).run(
              group,
              next.key,
            );
            continue;
          }
          db.prepare(`UPDATE ${this.fairItems} SET token = ? WHERE seq = ?`).run(token, head.seq);
          // Served: to the back of the rotation, or out of it when nothing is left.
          if (!this.dropKeyIfEmpty(group, next.key))
            db.prepare(
              `UPDATE ${this.fairKeys} SET turn = (SELECT MAX(turn) FROM ${this.fairKeys} WHERE grp = ?) + 1 WHERE grp = ? AND key = ?`,
            ).run(group, group, next.key);
          return { id: head.id, payload: head.payload };
        }
      })
      .immediate();
    return Promise.resolve(item);
  }

  fairDone(group: string, token: string): Promise<void> {
    this.db.prepare(`DELETE FROM ${this.fairItems} WHERE grp = ? AND token = ?`).run(group, token);
    return Promise.resolve();
  }

  /** Takes `key` out of the rotation when none of its tasks is queued; true when it did. */
  private dropKeyIfEmpty(group: string, key: string): boolean {
    const queued = this.db
      .prepare(
        `SELECT 1 FROM ${this.fairItems} WHERE grp = ? AND key = ? AND token IS NULL LIMIT 1`,
      )
      .get(group, key);
    if (queued) return false;
    this.db.prepare(`DELETE FROM ${this.fairKeys} WHERE grp = ? AND key = ?`).run(group, key);
    return true;
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
    const debounces = db
      .prepare(
        `SELECT key, task_id, due_at FROM ${this.debounces} WHERE key >= ? AND key < ? AND until > ?`,
      )
      .all(prefix, end, now) as Array<{ key: string; task_id: string; due_at: number }>;
    for (const row of debounces)
      entries.push({ key: row.key, kind: 'debounce', taskId: row.task_id, dueAt: row.due_at });
    const fair = db
      .prepare(
        `SELECT grp || ':' || key AS name, COUNT(*) AS waiting FROM ${this.fairItems}
         WHERE token IS NULL GROUP BY grp, key HAVING name >= ? AND name < ?`,
      )
      .all(prefix, end) as Array<{ name: string; waiting: number }>;
    for (const row of fair) entries.push({ key: row.name, kind: 'fair', waiting: row.waiting });
    return Promise.resolve(entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }

  close(): Promise<void> {
    this.handle?.release();
    this.handle = undefined;
    return Promise.resolve();
  }
}
