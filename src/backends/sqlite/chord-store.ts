/**
 * Chord joins and saved groups in the SQLite result backend's file: one row per chord
 * (its header size), one row per recorded part (keyed by group and task id, so a part
 * recorded twice counts once), one row per saved group (Celery's taskset meta) and one per
 * one-time claim (a chord body's first send token).
 * Each part is recorded and counted in one `BEGIN IMMEDIATE` transaction, so of several
 * processes finishing parts at once exactly one sees the join complete.
 * Must never interpret a result: parts are stored and returned as JSON.
 */
import type Database from 'better-sqlite3';
import {
  ensureSchema,
  statementCache,
  tableName,
  type Db,
  type DbHandle,
} from '../../connections/sqlite/database.js';
import type { ChordPart } from '../backend.js';
import type { JsonValue } from '../../protocol/types.js';

type Stmt = Database.Statement<unknown[], unknown>;

function chordSql(prefix: string) {
  const c = tableName(prefix, 'chords');
  const p = tableName(prefix, 'chord_parts');
  const g = tableName(prefix, 'groups');
  const o = tableName(prefix, 'once_claims');
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${c} (
        group_id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS ${p} (
        group_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx REAL,                    -- group_index; NULL sorts last, as Celery's +inf score
        part TEXT NOT NULL,          -- the ChordPart as JSON
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (group_id, task_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${g} (
        group_id TEXT PRIMARY KEY,
        value TEXT NOT NULL,         -- Celery's taskset meta as JSON
        expires_at INTEGER NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS ${o} (
        key TEXT PRIMARY KEY,
        token TEXT NOT NULL,         -- the first token recorded (ChordJoin.claimOnce)
        expires_at INTEGER NOT NULL
      )`,
    ],
    // @groupId, @size, @expiresAt -> changes.
    setSize: `INSERT INTO ${c} (group_id, size, expires_at) VALUES (@groupId, @size, @expiresAt)
              ON CONFLICT (group_id) DO UPDATE SET size = excluded.size, expires_at = excluded.expires_at`,
    // @groupId, @now -> { size } | undefined.
    getSize: `SELECT size FROM ${c} WHERE group_id = @groupId AND (expires_at = 0 OR expires_at > @now)`,
    // @groupId, @taskId, @idx, @part, @expiresAt -> changes (0 when the part was recorded before).
    addPart: `INSERT INTO ${p} (group_id, task_id, idx, part, expires_at)
              VALUES (@groupId, @taskId, @idx, @part, @expiresAt) ON CONFLICT DO NOTHING`,
    // @groupId -> { n }.
    countParts: `SELECT count(*) AS n FROM ${p} WHERE group_id = @groupId`,
    // @groupId -> rows (part) in header order.
    parts: `SELECT part FROM ${p} WHERE group_id = @groupId ORDER BY idx IS NULL, idx, rowid`,
    // @groupId -> changes.
    deleteChord: `DELETE FROM ${c} WHERE group_id = @groupId`,
    deleteParts: `DELETE FROM ${p} WHERE group_id = @groupId`,
    // @groupId, @value, @expiresAt -> changes.
    saveGroup: `INSERT INTO ${g} (group_id, value, expires_at) VALUES (@groupId, @value, @expiresAt)
                ON CONFLICT (group_id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    // @groupId, @now -> { value } | undefined.
    getGroup: `SELECT value FROM ${g} WHERE group_id = @groupId AND (expires_at = 0 OR expires_at > @now)`,
    // @key, @token, @expiresAt -> changes (0 when a live token holds the key).
    claim: `INSERT INTO ${o} (key, token, expires_at) VALUES (@key, @token, @expiresAt)
            ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
            WHERE ${o}.expires_at > 0 AND ${o}.expires_at <= @now`,
    // @key -> { token } | undefined.
    claimed: `SELECT token FROM ${o} WHERE key = @key`,
    // @now -> changes. The lazy clean-up.
    expire: [
      `DELETE FROM ${o} WHERE expires_at > 0 AND expires_at <= @now`,
      `DELETE FROM ${c} WHERE expires_at > 0 AND expires_at <= @now`,
      `DELETE FROM ${p} WHERE expires_at > 0 AND expires_at <= @now`,
      `DELETE FROM ${g} WHERE expires_at > 0 AND expires_at <= @now`,
    ],
  };
}

export class ChordStore {
  private readonly db: Db;
  private readonly sql: ReturnType<typeof chordSql>;
  private readonly stmt: (text: string) => Stmt;

  constructor(handle: DbHandle, prefix: string) {
    this.db = handle.db;
    this.stmt = statementCache(this.db);
    this.sql = chordSql(prefix);
    ensureSchema(handle, this.sql.schema);
  }

  setSize(groupId: string, size: number, expiresAt: number): void {
    this.stmt(this.sql.setSize).run({ groupId, size, expiresAt });
  }

  addPart(groupId: string, part: ChordPart, expiresAt: number, now: number): ChordPart[] | null {
    return this.db
      .transaction((): ChordPart[] | null => {
        // The size is recorded before any part is sent: none means the join was cleared.
        const row = this.stmt(this.sql.getSize).get({ groupId, now }) as
          { size: number } | undefined;
        if (!row) return null;
        this.stmt(this.sql.addPart).run({
          groupId,
          taskId: part.taskId,
          idx: part.index,
          part: JSON.stringify(part),
          expiresAt,
        });
        const { n } = this.stmt(this.sql.countParts).get({ groupId }) as { n: number };
        // Complete: the call that added the last part fires; a duplicate of a complete join
        // fires again (the first may have died before sending the body).
        if (n !== row.size) return null;
        return (this.stmt(this.sql.parts).all({ groupId }) as Array<{ part: string }>).map(
          (r) => JSON.parse(r.part) as ChordPart,
        );
      })
      .immediate();
  }

  clear(groupId: string): void {
    this.db
      .transaction(() => {
        this.stmt(this.sql.deleteChord).run({ groupId });
        this.stmt(this.sql.deleteParts).run({ groupId });
      })
      .immediate();
  }

  /** The token holding `key`: `token` when it was free (or expired), else the first one. */
  claimOnce(key: string, token: string, expiresAt: number, now: number): string {
    return this.db
      .transaction((): string => {
        this.stmt(this.sql.claim).run({ key, token, expiresAt, now });
        const row = this.stmt(this.sql.claimed).get({ key }) as { token: string } | undefined;
        return row?.token ?? token;
      })
      .immediate();
  }

  saveGroup(groupId: string, value: JsonValue, expiresAt: number): void {
    this.stmt(this.sql.saveGroup).run({ groupId, value: JSON.stringify(value), expiresAt });
  }

  getGroup(groupId: string, now: number): JsonValue | undefined {
    const row = this.stmt(this.sql.getGroup).get({ groupId, now }) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as JsonValue) : undefined;
  }

  deleteExpired(now: number): void {
    this.db
      .transaction(() => {
        for (const text of this.sql.expire) this.stmt(text).run({ now });
      })
      .immediate();
  }
}
