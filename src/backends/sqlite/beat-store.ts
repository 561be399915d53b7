/**
 * Beat's schedule store in SQLite: entries, the leader lease and run claims in two tables
 * beside the result backend's, each write one short `BEGIN IMMEDIATE` transaction so
 * replicas in other processes see a consistent lease and never claim a slot twice.
 */
import type Database from 'better-sqlite3';
import {
  ensureSchema,
  openDatabase,
  tableName,
  type DbHandle,
} from '../../connections/sqlite/database.js';
import type { SqliteLocation } from '../../connections/sqlite/sqlite-url.js';
import type { BeatStore, EntryDefinition, StoredEntry } from '../beat-store.js';

interface EntryRow {
  name: string;
  definition: string;
  enabled: number;
  created_at: number;
  last_run_at: number | null;
  total_runs: number;
  run_now_at: number | null;
  pending_task_id: string | null;
  pending_slot: number | null;
  last_task_id: string | null;
}

/** Columns added after the first release: files made before get them at open. */
const ADDED_COLUMNS = [
  ['last_task_id', 'TEXT'],
  // "<owner>|<token>" of the leadership that claimed the pending run (see confirmRun).
  ['pending_claim', 'TEXT'],
] as const;

export class SqliteBeatStore implements BeatStore {
  private handle: DbHandle | undefined;
  private readonly entries: string;
  private readonly leader: string;

  constructor(
    private readonly location: SqliteLocation,
    prefix: string,
  ) {
    this.entries = tableName(prefix, 'beat_entries');
    this.leader = tableName(prefix, 'beat_leader');
  }

  private get db(): Database.Database {
    if (!this.handle) throw new Error('The beat store is not open: call open() first.');
    return this.handle.db;
  }

  open(): Promise<void> {
    if (this.handle) return Promise.resolve();
    this.handle = openDatabase(this.location);
    ensureSchema(this.handle, [
      // definition: the EntryDefinition as JSON, less `name` and `enabled` (own columns).
      `CREATE TABLE IF NOT EXISTS ${this.entries} (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_run_at INTEGER,
        total_runs INTEGER NOT NULL DEFAULT 0,
        run_now_at INTEGER,
        pending_task_id TEXT,
        pending_slot INTEGER,
        last_task_id TEXT,
        pending_claim TEXT
      )`,
      // One row (id = 1): who leads until when, and the fencing token of that leadership.
      `CREATE TABLE IF NOT EXISTS ${this.leader} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        token INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      )`,
    ]);
    this.addMissingColumns();
    return Promise.resolve();
  }

  /** Files made before a column existed get it here, once, whichever process comes first. */
  private addMissingColumns(): void {
    this.db
      .transaction(() => {
        const columns = this.db
          .prepare(`SELECT name FROM pragma_table_info(?)`)
          .all(this.entries.slice(1, -1)) as Array<{ name: string }>;
        for (const [name, type] of ADDED_COLUMNS) {
          if (!columns.some((column) => column.name === name))
            this.db.exec(`ALTER TABLE ${this.entries} ADD COLUMN ${name} ${type}`);
        }
      })
      .immediate();
  }

  list(): Promise<StoredEntry[]> {
    const rows = this.db.prepare(`SELECT * FROM ${this.entries} ORDER BY name`).all() as EntryRow[];
    return Promise.resolve(rows.map(toEntry));
  }

  get(name: string): Promise<StoredEntry | undefined> {
    const row = this.db.prepare(`SELECT * FROM ${this.entries} WHERE name = ?`).get(name) as
      EntryRow | undefined;
    return Promise.resolve(row ? toEntry(row) : undefined);
  }

  upsert(definition: EntryDefinition, now: number): Promise<void> {
    this.db.transaction(() => this.upsertOne(definition, now)).immediate();
    return Promise.resolve();
  }

  syncCode(definitions: EntryDefinition[], now: number): Promise<void> {
    this.db
      .transaction(() => {
        for (const definition of definitions) this.upsertOne(definition, now);
        const declared = new Set(definitions.map((d) => d.name));
        const rows = this.db
          .prepare(`SELECT name, definition FROM ${this.entries}`)
          .all() as EntryRow[];
        for (const row of rows) {
          const source = (JSON.parse(row.definition) as { source?: string }).source;
          if (source === 'code' && !declared.has(row.name)) {
            this.db.prepare(`DELETE FROM ${this.entries} WHERE name = ?`).run(row.name);
          }
        }
      })
      .immediate();
    return Promise.resolve();
  }

  /** Keeps run history when the definition is unchanged; a new definition starts at `now`. */
  private upsertOne(definition: EntryDefinition, now: number): void {
    const { name, enabled, ...rest } = definition;
    const text = JSON.stringify(rest);
    const existing = this.db
      .prepare(`SELECT definition FROM ${this.entries} WHERE name = ?`)
      .get(name) as { definition: string } | undefined;
    if (existing?.definition === text) {
      this.db
        .prepare(`UPDATE ${this.entries} SET enabled = ? WHERE name = ?`)
        .run(enabled ? 1 : 0, name);
      return;
    }
    this.db
      .prepare(
        `INSERT INTO ${this.entries} (name, definition, enabled, created_at) VALUES (@name, @text, @enabled, @now)
         ON CONFLICT (name) DO UPDATE SET definition = @text, enabled = @enabled, created_at = @now,
           last_run_at = NULL`,
      )
      .run({ name, text, enabled: enabled ? 1 : 0, now });
  }

  remove(name: string): Promise<boolean> {
    return Promise.resolve(
      this.db.prepare(`DELETE FROM ${this.entries} WHERE name = ?`).run(name).changes > 0,
    );
  }

  setEnabled(name: string, enabled: boolean, now: number): Promise<boolean> {
    // Re-enabling restarts the schedule at `now`: slots that passed while disabled never run.
    const sql = enabled
      ? `UPDATE ${this.entries} SET enabled = 1, created_at = @now, last_run_at = NULL WHERE name = @name AND enabled = 0`
      : `UPDATE ${this.entries} SET enabled = 0 WHERE name = @name`;
    const changes = this.db.prepare(sql).run({ name, now }).changes;
    if (changes === 0 && enabled) return this.get(name).then((entry) => entry !== undefined);
    return Promise.resolve(changes > 0);
  }

  requestRunNow(name: string, now: number): Promise<boolean> {
    const changes = this.db
      .prepare(`UPDATE ${this.entries} SET run_now_at = ? WHERE name = ?`)
      .run(now, name).changes;
    return Promise.resolve(changes > 0);
  }

  lead(owner: string, ttlMs: number, now: number): Promise<number | null> {
    const token = this.db
      .transaction((): number | null => {
        const row = this.db
          .prepare(`SELECT owner, token, expires_at FROM ${this.leader} WHERE id = 1`)
          .get() as { owner: string; token: number; expires_at: number } | undefined;
        if (row && row.owner !== owner && row.expires_at > now) return null;
        // A new leader gets a new token, so writes of a deposed leader that still thinks it leads fail.
        const next = !row ? 1 : row.owner === owner ? row.token : row.token + 1;
        this.db
          .prepare(
            `INSERT INTO ${this.leader} (id, owner, token, expires_at) VALUES (1, @owner, @next, @expires)
             ON CONFLICT (id) DO UPDATE SET owner = @owner, token = @next, expires_at = @expires`,
          )
          .run({ owner, next, expires: now + ttlMs });
        return next;
      })
      .immediate();
    return Promise.resolve(token);
  }

  resign(owner: string): Promise<void> {
    this.db
      .prepare(`UPDATE ${this.leader} SET expires_at = 0 WHERE id = 1 AND owner = ?`)
      .run(owner);
    return Promise.resolve();
  }

  claimRun(
    name: string,
    slot: number | null,
    owner: string,
    token: number,
    taskId: string,
  ): Promise<boolean> {
    const claimed = this.db
      .transaction((): boolean => {
        const leader = this.db
          .prepare(`SELECT owner, token FROM ${this.leader} WHERE id = 1`)
          .get() as { owner: string; token: number } | undefined;
        if (!leader || leader.owner !== owner || leader.token !== token) return false;
        const sql =
          slot === null
            ? `UPDATE ${this.entries} SET run_now_at = NULL, total_runs = total_runs + 1,
                 pending_task_id = @taskId, pending_slot = NULL, last_task_id = @taskId,
                 pending_claim = @claim
               WHERE name = @name AND run_now_at IS NOT NULL`
            : `UPDATE ${this.entries} SET last_run_at = @slot, total_runs = total_runs + 1,
                 pending_task_id = @taskId, pending_slot = @slot, last_task_id = @taskId,
                 pending_claim = @claim
               WHERE name = @name AND enabled = 1 AND (last_run_at IS NULL OR last_run_at < @slot)`;
        const claim = `${owner}|${token}`;
        return this.db.prepare(sql).run({ name, slot, taskId, claim }).changes === 1;
      })
      .immediate();
    return Promise.resolve(claimed);
  }

  confirmRun(name: string, taskId: string, owner: string, token: number): Promise<boolean> {
    const confirmed = this.db
      .prepare(
        `UPDATE ${this.entries} SET pending_task_id = NULL, pending_slot = NULL, pending_claim = NULL
         WHERE name = @name AND pending_task_id = @taskId
           AND (pending_claim = @claim OR EXISTS (
             SELECT 1 FROM ${this.leader} WHERE id = 1 AND owner = @owner AND token = @token))`,
      )
      .run({ name, taskId, owner, token, claim: `${owner}|${token}` }).changes;
    return Promise.resolve(confirmed === 1);
  }

  close(): Promise<void> {
    this.handle?.release();
    this.handle = undefined;
    return Promise.resolve();
  }
}

function toEntry(row: EntryRow): StoredEntry {
  const definition = JSON.parse(row.definition) as Omit<EntryDefinition, 'name' | 'enabled'>;
  return {
    ...definition,
    name: row.name,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    lastRunAt: row.last_run_at,
    totalRuns: row.total_runs,
    runNowAt: row.run_now_at,
    lastTaskId: row.last_task_id ?? null,
    pendingTaskId: row.pending_task_id,
    pendingSlot: row.pending_slot,
  };
}
