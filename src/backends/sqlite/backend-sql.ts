/**
 * Every SQL statement of the SQLite result backend, each with a header listing its
 * parameters and what it returns. Table names come from the key prefix (quoted,
 * sanitised); values are always bound. Lists of ids travel as one JSON array parameter
 * read with `json_each`, so one prepared statement serves any number of ids.
 *
 * Tables: results (latest meta per task, change sequence `seq`), revoked (with its own
 * sequence), sequences (the two counters; a counter never goes back, even when the newest
 * rows are deleted).
 * With `resultExtended` (the dashboard's index, task-index.ts): result_fields (one row per
 * indexed argument or result field of a task, `entry` = `field=JSON value`, expiring with
 * its result; no index by task, which would cost each store a random B-tree insert),
 * task_counts (stores per minute by name, queue and state; minute -1 holds the totals)
 * and task_runtimes (run-time buckets by name), all written in the store's transaction.
 * With the app's `taskHistory`: task_events (each task's events, task-history.ts, one row
 * per event in append order, expiring one result expiry after it was appended), created
 * with the other tables (an added table: files of the same layout without it gain it).
 * Expiry: `expires_at` in unix ms, 0 = never; expired rows are invisible to reads and
 * deleted lazily; minute counters older than a week too.
 */
import { tableName } from '../../connections/sqlite/database.js';

export type SequenceName = 'results' | 'revoked';

export function backendSql(prefix: string) {
  const r = tableName(prefix, 'results');
  const v = tableName(prefix, 'revoked');
  const s = tableName(prefix, 'sequences');
  const f = tableName(prefix, 'result_fields');
  const c = tableName(prefix, 'task_counts');
  const t = tableName(prefix, 'task_runtimes');
  const e = tableName(prefix, 'task_events');
  return {
    tables: { fields: f, counts: c, runtimes: t },
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
      `CREATE TABLE IF NOT EXISTS ${f} (
        entry TEXT NOT NULL,         -- field=JSON value (task-index.ts)
        task_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL, -- its result's
        PRIMARY KEY (entry, task_id)
      ) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'result_fields_expires')} ON ${f} (expires_at) WHERE expires_at > 0`,
      `CREATE TABLE IF NOT EXISTS ${c} (
        minute INTEGER NOT NULL,     -- unix ms / 60000; -1: since the store began
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (minute, name, queue, state)
      ) WITHOUT ROWID`,
      `CREATE TABLE IF NOT EXISTS ${t} (
        name TEXT NOT NULL,
        bucket INTEGER NOT NULL,     -- index into RUNTIME_BUCKETS (task-index.ts)
        n INTEGER NOT NULL,
        seconds REAL NOT NULL,
        PRIMARY KEY (name, bucket)
      ) WITHOUT ROWID`,
      `CREATE TABLE IF NOT EXISTS ${e} (
        id INTEGER PRIMARY KEY,      -- append order
        task_id TEXT NOT NULL,
        event TEXT NOT NULL,         -- one TaskHistoryEvent as JSON (task-history.ts)
        expires_at INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'task_events_task')} ON ${e} (task_id, id)`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'task_events_expires')} ON ${e} (expires_at) WHERE expires_at > 0`,
    ],

    // @rows (JSON [[task_id, event JSON, expires_at], ...]) -> changes: events appended in order.
    appendEvents: `INSERT INTO ${e} (task_id, event, expires_at)
                   SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(@rows) ORDER BY key`,

    // @taskId, @now, @limit -> rows (event) newest first: a task's live events.
    readEvents: `SELECT event FROM ${e} WHERE task_id = @taskId AND (expires_at = 0 OR expires_at > @now)
                 ORDER BY id DESC LIMIT @limit`,

    // @ids (JSON array) -> changes: the events of forgotten tasks.
    forgetEvents: `DELETE FROM ${e} WHERE task_id IN (SELECT value FROM json_each(@ids))`,

    // @now -> changes: expired events.
    expireEvents: `DELETE FROM ${e} WHERE expires_at > 0 AND expires_at <= @now`,

    // @rows (JSON [[entry, task_id, expires_at], ...]) -> changes: a batch's indexed fields,
    // each expiring with its result's latest store.
    upsertFields: `INSERT INTO ${f} (entry, task_id, expires_at)
                   SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(@rows) WHERE true
                   ON CONFLICT (entry, task_id) DO UPDATE SET expires_at = excluded.expires_at`,

    // @rows (JSON [[entry, task_id], ...]) -> changes: fields of forgotten tasks.
    forgetFields: `DELETE FROM ${f} WHERE (entry, task_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(@rows))`,

    // @minute, @name, @queue, @state, @n -> changes: n more stores counted.
    countStore: `INSERT INTO ${c} (minute, name, queue, state, n) VALUES (@minute, @name, @queue, @state, @n)
                 ON CONFLICT (minute, name, queue, state) DO UPDATE SET n = n + excluded.n`,

    // @name, @bucket, @n, @seconds -> changes: n more run times in their bucket.
    countRuntime: `INSERT INTO ${t} (name, bucket, n, seconds) VALUES (@name, @bucket, @n, @seconds)
                   ON CONFLICT (name, bucket) DO UPDATE SET n = n + excluded.n, seconds = seconds + excluded.seconds`,

    // @since (minute) -> rows (minute, name, queue, state, n) oldest first.
    activity: `SELECT minute, name, queue, state, n FROM ${c} WHERE minute >= @since ORDER BY minute`,

    // -> rows (name, queue, state, n): the totals.
    totals: `SELECT name, queue, state, n FROM ${c} WHERE minute = -1`,

    // -> rows (name, bucket, n, seconds).
    runtimes: `SELECT name, bucket, n, seconds FROM ${t} ORDER BY name, bucket`,

    // @before (minute) -> changes: minute counters older than kept.
    expireCounts: `DELETE FROM ${c} WHERE minute >= 0 AND minute < @before`,

    // @now -> changes: expired fields.
    expireFields: `DELETE FROM ${f} WHERE expires_at > 0 AND expires_at <= @now`,

    // @name -> { value }: the counter after adding one. Run inside the writing transaction.
    bumpSequence: `INSERT INTO ${s} (name, value) VALUES (@name, 1)
                   ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,

    // @name, @n -> { value }: the counter after adding @n (a batch takes value - @n + 1 .. value).
    bumpSequenceBy: `INSERT INTO ${s} (name, value) VALUES (@name, @n)
                     ON CONFLICT (name) DO UPDATE SET value = value + @n RETURNING value`,

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

    // @after, @upto -> rows (task_id, terminate, expires_at, seq) by seq: revocations since a watermark.
    revokedSince: `SELECT task_id, terminate, expires_at, seq FROM ${v} WHERE seq > @after AND seq <= @upto ORDER BY seq`,
  };
}

export type BackendSql = ReturnType<typeof backendSql>;
