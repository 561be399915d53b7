/**
 * Every SQL statement of the PostgreSQL key-value store under the result backend, each
 * with a header listing its parameters and what it returns, and the versioned migrations
 * creating its tables. Names come from the schema and table prefix (checked identifiers,
 * quoted); values are always bound.
 *
 * Tables: kv (key, value, expires_at in unix ms, 0 = never; expired rows are invisible to
 * reads and deleted in batches by housekeeping), notices (payloads too large for one
 * NOTIFY, which carries at most 8000 bytes: the notification then names the row).
 * Keys are `COLLATE "C"`, so a prefix listing is a range scan of the primary key.
 */
import type { MigrationSet } from '../../connections/pg/migrations.js';
import { qualified } from '../../connections/pg/pg-url.js';

export function keyValueSql(schema: string, prefix: string) {
  const kv = qualified(schema, `${prefix}kv`);
  const n = qualified(schema, `${prefix}notices`);
  const idx = (name: string) => `"${prefix}${name}"`;
  const live = `(expires_at = 0 OR expires_at > $2)`;
  const migrations: MigrationSet = {
    component: `backend:${prefix}`,
    steps: [
      [
        `CREATE TABLE ${kv} (
          key TEXT COLLATE "C" PRIMARY KEY,
          value TEXT NOT NULL,
          expires_at BIGINT NOT NULL DEFAULT 0
        )`,
        `CREATE INDEX ${idx('kv_expires')} ON ${kv} (expires_at) WHERE expires_at > 0`,
        `CREATE TABLE ${n} (
          id BIGSERIAL PRIMARY KEY,
          channel TEXT NOT NULL,
          message TEXT NOT NULL,
          created_at BIGINT NOT NULL
        )`,
      ],
    ],
  };
  return {
    migrations,
    /** The results table, for a broker on the same database carrying results (result-carrier.ts). */
    table: kv,
    // $1 key, $2 now -> { value } | none.
    get: `SELECT value FROM ${kv} WHERE key = $1 AND ${live}`,
    // $1 keys[], $2 now -> rows (key, value) of the live ones.
    mget: `SELECT key, value FROM ${kv} WHERE key = ANY($1::text[]) AND ${live}`,
    // $1 keys[], $2 values[], $3 expiresAts[] (0 = never) -> rowCount.
    set: `INSERT INTO ${kv} (key, value, expires_at)
          SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    // $1 rows as one JSON array of [key, value, expiresAt (0 = never)], $2 pg channel,
    // $3 notify payloads[] (each a JSON array of [channel, message] pairs, as many stores
    // as fit one NOTIFY) -> one row per payload (pg_notify's result). The stores and their
    // notifications in one statement, one NOTIFY per batch rather than per store; they go
    // out on commit, after the rows are visible.
    setAndNotify: `WITH rows AS (
                     SELECT r->>0 AS key, r->>1 AS value, (r->>2)::bigint AS expires_at, n
                     FROM json_array_elements($1::json) WITH ORDINALITY AS t(r, n)
                   ), latest AS (
                     SELECT DISTINCT ON (key) key, value, expires_at FROM rows ORDER BY key, n DESC
                   ), stored AS (
                     INSERT INTO ${kv} (key, value, expires_at) SELECT key, value, expires_at FROM latest
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                     RETURNING 1
                   )
                   SELECT pg_notify($2, p.payload)
                   FROM unnest($3::text[]) WITH ORDINALITY AS p(payload, n)
                   WHERE (SELECT count(*) FROM stored) >= 0 ORDER BY p.n`,
    // $1 keys[] -> rowCount.
    delete: `DELETE FROM ${kv} WHERE key = ANY($1::text[])`,
    // $1 key, $2 now -> { value }: the integer after adding one; the key keeps its expiry, as Redis's INCR.
    incr: `INSERT INTO ${kv} AS kv (key, value, expires_at) VALUES ($1, '1', 0)
           ON CONFLICT (key) DO UPDATE SET
             value = (CASE WHEN kv.expires_at > 0 AND kv.expires_at <= $2 THEN 1 ELSE kv.value::bigint + 1 END)::text,
             expires_at = CASE WHEN kv.expires_at > 0 AND kv.expires_at <= $2 THEN 0 ELSE kv.expires_at END
           RETURNING value`,
    // $1 keys[]: transaction-level advisory locks on the keys, in one fixed order (no deadlock).
    lockKeys: `SELECT pg_advisory_xact_lock(1131308133, h)
               FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`,
    // $1 prefix, $2 now, $3 prefix's upper bound -> rows (key).
    keys: `SELECT key FROM ${kv} WHERE key >= $1 AND key < $3 AND ${live}`,
    // $1 pg channel, $2 payload -> one row.
    notify: `SELECT pg_notify($1, $2)`,
    // $1 channel, $2 message, $3 now -> { id }: a payload too large for NOTIFY.
    storeNotice: `INSERT INTO ${n} (channel, message, created_at) VALUES ($1, $2, $3) RETURNING id::float8 AS id`,
    // $1 id -> { message } | none.
    readNotice: `SELECT message FROM ${n} WHERE id = $1`,
    // $1 before (unix ms), $2 batch -> rowCount. Housekeeping, one short batch at a time.
    deleteExpired: `DELETE FROM ${kv} WHERE key IN (
                      SELECT key FROM ${kv} WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2)`,
    deleteOldNotices: `DELETE FROM ${n} WHERE id IN (SELECT id FROM ${n} WHERE created_at <= $1 LIMIT $2)`,
  };
}

export type KeyValueSql = ReturnType<typeof keyValueSql>;
