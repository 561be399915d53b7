/**
 * Every SQL statement of the SQLite result backend, each with a header listing its
 * parameters and what it returns. Table names come from the key prefix (quoted,
 * sanitised); values are always bound. Lists of ids travel as one JSON array parameter
 * read with `json_each`, so one prepared statement serves any number of ids.
 *
 * Tables: results (latest meta per task, change sequence `seq`), revoked (with its own
 * sequence), sequences (the two counters; a counter never goes back, even when the newest
 * rows are deleted).
 * Expiry: `expires_at` in unix ms, 0 = never; expired rows are invisible to reads and
 * deleted lazily.
 */
import { tableName } from '../../connections/sqlite/database.js';

export type SequenceName = 'results' | 'revoked';

export function backendSql(prefix: string) {
  const r = tableName(prefix, 'results');
  const v = tableName(prefix, 'revoked');
  const s = tableName(prefix, 'sequences');
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${r} (
        task_id TEXT PRIMARY KEY,
        meta TEXT NOT NULL,          -- Celery's result meta as JSON
        expires_at INTEGER NOT NULL,
        seq INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'results_seq')} ON ${r} (seq)`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'results_expires')} ON ${r} (expires_at) WHERE expires_at > 0`,
      `CREATE TABLE IF NOT EXISTS ${v} (
        task_id TEXT PRIMARY KEY,
        terminate INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        seq INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'revoked_seq')} ON ${v} (seq)`,
      `CREATE TABLE IF NOT EXISTS ${s} (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
    ],

    // @name -> { value }: the counter after adding one. Run inside the writing transaction.
    bumpSequence: `INSERT INTO ${s} (name, value) VALUES (@name, 1)
                   ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,

    // @name -> { value } | undefined: the counter now (undefined: nothing written yet, i.e. 0).
    currentSequence: `SELECT value FROM ${s} WHERE name = @name`,

    // @taskId, @meta, @expiresAt, @seq -> changes.
    upsertResult: `INSERT INTO ${r} (task_id, meta, expires_at, seq) VALUES (@taskId, @meta, @expiresAt, @seq)
                   ON CONFLICT (task_id) DO UPDATE SET meta = excluded.meta, expires_at = excluded.expires_at, seq = excluded.seq`,

    // @taskId, @now -> { meta } | undefined.
    getResult: `SELECT meta FROM ${r} WHERE task_id = @taskId AND (expires_at = 0 OR expires_at > @now)`,

    // @ids (JSON array), @after, @upto -> rows (task_id, meta, seq) by seq: what changed for those ids.
    changedResults: `SELECT task_id, meta, seq FROM ${r}
                     WHERE task_id IN (SELECT value FROM json_each(@ids)) AND seq > @after AND seq <= @upto
                     ORDER BY seq`,

    // @after, @upto -> rows (task_id, meta, seq) by seq: every change, for large subscription sets.
    changesSince: `SELECT task_id, meta, seq FROM ${r} WHERE seq > @after AND seq <= @upto ORDER BY seq`,

    // @ids (JSON array) -> changes.
    forget: `DELETE FROM ${r} WHERE task_id IN (SELECT value FROM json_each(@ids))`,

    // @now -> changes. The lazy clean-up, one statement per table.
    expireResults: `DELETE FROM ${r} WHERE expires_at > 0 AND expires_at <= @now`,
    expireRevoked: `DELETE FROM ${v} WHERE expires_at > 0 AND expires_at <= @now`,

    // @taskId, @terminate (0/1), @expiresAt, @seq -> changes.
    upsertRevoked: `INSERT INTO ${v} (task_id, terminate, expires_at, seq) VALUES (@taskId, @terminate, @expiresAt, @seq)
                    ON CONFLICT (task_id) DO UPDATE SET terminate = excluded.terminate, expires_at = excluded.expires_at, seq = excluded.seq`,

    // @taskId, @now -> { one } | undefined: whether the id is revoked and not expired.
    isRevoked: `SELECT 1 AS one FROM ${v} WHERE task_id = @taskId AND (expires_at = 0 OR expires_at > @now)`,

    // @after, @upto -> rows (task_id, terminate, seq) by seq: revocations since a watermark.
    revokedSince: `SELECT task_id, terminate, seq FROM ${v} WHERE seq > @after AND seq <= @upto ORDER BY seq`,
  };
}

export type BackendSql = ReturnType<typeof backendSql>;
