/**
 * Every SQL statement of the PostgreSQL broker, each with a header listing its parameters
 * ($n) and what it returns, and the versioned migrations creating its tables. Names come
 * from the schema and table prefix (checked identifiers, quoted); values are always bound.
 *
 * Row life cycle in `messages` (the same shape as the SQLite broker's):
 *   deliver_at > 0              delayed: not before that unix ms (promoted to 0 when due)
 *   deliver_at = 0              ready, unless leased: lease_until > now
 *   lease_owner, lease_until    the claim token holding it and until when (0 = released)
 *   redelivered                 set when a row goes back without an ack (requeue, lost lease)
 * Ready rows are indexed by (queue, priority DESC, id) over `deliver_at = 0` only, so a
 * claim never walks past delayed rows. Claims and promotions take rows with
 * `FOR UPDATE SKIP LOCKED`: two consumers never wait on, or take, the same row.
 * An acked row is deleted at once; dead letters are kept until the retention deletes them.
 */
import type { MigrationSet } from '../../connections/pg/migrations.js';
import { qualified } from '../../connections/pg/pg-url.js';

export function brokerSql(schema: string, prefix: string) {
  const m = qualified(schema, `${prefix}messages`);
  const d = qualified(schema, `${prefix}dead_letters`);
  const b = qualified(schema, `${prefix}broadcasts`);
  const idx = (name: string) => `"${prefix}${name}"`;
  const migrations: MigrationSet = {
    component: `broker:${prefix}`,
    steps: [
      [
        `CREATE TABLE ${m} (
          id BIGSERIAL PRIMARY KEY, -- never reused, so a stale (id, owner) settles nothing
          queue TEXT NOT NULL,
          priority SMALLINT NOT NULL DEFAULT 0,
          deliver_at BIGINT NOT NULL DEFAULT 0,
          lease_owner TEXT,
          lease_until BIGINT NOT NULL DEFAULT 0,
          deliveries INTEGER NOT NULL DEFAULT 0,
          redelivered BOOLEAN NOT NULL DEFAULT false,
          created_at BIGINT NOT NULL,
          envelope TEXT NOT NULL -- the kombu envelope, as the Redis and SQLite brokers store it
        )`,
        `CREATE INDEX ${idx('messages_ready')} ON ${m} (queue, priority DESC, id) WHERE deliver_at = 0`,
        `CREATE INDEX ${idx('messages_delayed')} ON ${m} (deliver_at) WHERE deliver_at > 0`,
        `CREATE TABLE ${d} (
          id BIGINT PRIMARY KEY, -- the message's id in messages
          queue TEXT NOT NULL,
          priority SMALLINT NOT NULL,
          deliveries INTEGER NOT NULL,
          created_at BIGINT NOT NULL,
          envelope TEXT NOT NULL,
          reason TEXT NOT NULL,
          dead_at BIGINT NOT NULL
        )`,
        `CREATE INDEX ${idx('dead_letters_queue')} ON ${d} (queue, id)`,
        `CREATE INDEX ${idx('dead_letters_dead_at')} ON ${d} (dead_at)`,
      ],
      // 2: expiry in SQL. 0 = never; a claim dead-letters a row past it instead of leasing it.
      // A constant default: no table rewrite, instant on a large table.
      [`ALTER TABLE ${m} ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0`],
      // 3: broadcasts too large for one NOTIFY (remote control replies, events): the
      // notification names the row. Kept a minute, then pruned by whoever sends next.
      [
        `CREATE TABLE ${b} (
          id BIGSERIAL PRIMARY KEY,
          exchange TEXT NOT NULL,
          routing_key TEXT NOT NULL,
          sent_at BIGINT NOT NULL,
          envelope TEXT NOT NULL
        )`,
        `CREATE INDEX ${idx('broadcasts_sent')} ON ${b} (sent_at)`,
      ],
    ],
  };
  /**
   * The claim statement (see `claim`), with `riders` (CTEs placed first, each ending in a
   * comma), `exclude` (a condition on the rows it may take) and `tail` (more UNION ALL
   * branches of the same seven columns). Rows carry `k`: 'l' leased, 'e' expired.
   */
  const claimText = (riders: string, exclude: string, tail: string) =>
    `WITH ${riders} picked AS (
       SELECT c.id, c.expires_at FROM unnest($1::text[]) AS q(name),
       LATERAL (
         SELECT id, priority, expires_at FROM ${m}
         WHERE queue = q.name AND deliver_at = 0 AND lease_until <= $2 ${exclude}
         ORDER BY priority DESC, id LIMIT $3
         FOR UPDATE SKIP LOCKED
       ) AS c
       ORDER BY c.priority DESC, c.id LIMIT $3
     ),
     leased AS (
       UPDATE ${m} AS msg
       SET lease_owner = $4, lease_until = $5, deliveries = msg.deliveries + 1,
           redelivered = (msg.redelivered OR msg.lease_owner IS NOT NULL)
       FROM picked WHERE msg.id = picked.id AND (picked.expires_at = 0 OR picked.expires_at > $2)
       RETURNING msg.id, msg.queue, msg.priority, msg.redelivered, msg.envelope
     ),
     expired AS (
       DELETE FROM ${m} AS msg USING picked
       WHERE msg.id = picked.id AND picked.expires_at > 0 AND picked.expires_at <= $2
       RETURNING msg.*
     ),
     dead AS (
       INSERT INTO ${d} (id, queue, priority, deliveries, created_at, envelope, reason, dead_at)
       SELECT id, queue, priority, deliveries + 1, created_at, envelope, $6, $2 FROM expired
       ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, dead_at = excluded.dead_at
     )
     SELECT 'l' AS k, id::float8 AS id, queue, priority, redelivered, envelope, false AS expired FROM leased
     UNION ALL
     SELECT 'e', id::float8, queue, priority, (redelivered OR lease_owner IS NOT NULL), envelope, true
     FROM expired ${tail}`;
  /** Results written as the backend writes them (`param`: JSON rows, into `table`): `rows`, `latest`, `stored`. */
  const storingCtes = (table: string, param = '$9') => `
     rows AS (
       SELECT r->>0 AS key, r->>1 AS value, (r->>2)::bigint AS expires_at, n
       FROM json_array_elements(${param}::json) WITH ORDINALITY AS t(r, n)
     ), latest AS (
       SELECT DISTINCT ON (key) key, value, expires_at FROM rows ORDER BY key, n DESC
     ), stored AS (
       INSERT INTO ${table} (key, value, expires_at) SELECT key, value, expires_at FROM latest
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
       RETURNING 1
     ),`;
  return {
    migrations,

    // $1 rows as one JSON array of [queue, priority, deliverAt (0 = now), expiresAt (0 = never)],
    // $2 their envelopes joined by U+001E (JSON text never holds a raw control character),
    // as text (the client sends its UTF-8 bytes in binary format, which for text is the same),
    // $3 now, $4 channel -> one row per distinct queue (pg_notify's result); rows inserted in
    // array order. The small columns as jsonb (parsed once; json would re-parse each element
    // per `->>`), the envelopes as one text split on the server: neither side escapes the
    // envelopes, which are nearly all of the bytes. ROWS FROM pairs the two lists by position
    // (no join of two numbered lists). One statement: the NOTIFY goes out on
    // commit, so in a user's transaction a rolled-back publish wakes nobody.
    insert: `WITH ins AS (
               INSERT INTO ${m} (queue, priority, deliver_at, expires_at, created_at, envelope)
               SELECT r->>0, (r->>1)::smallint, (r->>2)::bigint, (r->>3)::bigint, $3, t.envelope
               FROM ROWS FROM (jsonb_array_elements($1::jsonb), unnest(string_to_array($2, E'\\x1e')))
                 WITH ORDINALITY AS t(r, envelope, n)
               ORDER BY t.n
               RETURNING queue
             )
             SELECT pg_notify($4, queue) FROM (SELECT DISTINCT queue FROM ins) AS qs`,

    // $1 now -> rowCount. Makes due delayed rows ready (of every queue: any consumer may do it).
    promoteDue: `UPDATE ${m} SET deliver_at = 0 WHERE id IN (
                   SELECT id FROM ${m} WHERE deliver_at > 0 AND deliver_at <= $1
                   ORDER BY deliver_at LIMIT 1000 FOR UPDATE SKIP LOCKED)`,

    // $1 queues[], $2 now, $3 limit, $4 owner, $5 leaseUntil, $6 expiry reason
    //   -> rows (id, queue, priority, redelivered, envelope, expired), unordered: the best $3
    //   ready rows, leased to $4, except those past expires_at, which the same statement
    //   moves to the dead letters (with $6) and returns flagged expired, never leased.
    // A row whose lease expired still has its old owner: that is what marks it redelivered.
    // Each queue contributes its own best $3 through the ready index, in index order, so the
    // scan stops after $3 rows (`queue = ANY(...)` would read every ready row of the queues
    // and sort them: a claim costing as much as the backlog); the union is cut to the best $3.
    claim: claimText('', '', ''),

    // As `claim` ($1..$6), with acks riding along: $7 ids[], $8 owners[] acked in the same
    // statement (never claimed by it) -> the claim's rows with k = 'l' or 'e', and one row
    // k = 'a' per acked id. With `table` (a results table, result-carrier.ts), also the
    // results those acks carry, as `ackStoring` writes them: $9 results JSON, $10 channel,
    // $11 payloads[] (one row k = 'n' each). One round trip, one commit for all.
    claimRiding: (table?: string) =>
      claimText(
        `acked AS (
           DELETE FROM ${m} AS msg USING unnest($7::bigint[], $8::text[]) AS k(id, owner)
           WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id
         ),${table === undefined ? '' : storingCtes(table)}`,
        'AND id <> ALL($7::bigint[])',
        `UNION ALL SELECT 'a', id::float8, NULL, NULL, NULL, NULL, NULL FROM acked${
          table === undefined
            ? ''
            : ` UNION ALL SELECT 'n', NULL, NULL, NULL, NULL, NULL, NULL FROM (
                  SELECT pg_notify($10, p.payload) AS sent FROM unnest($11::text[]) AS p(payload)
                  WHERE (SELECT count(*) FROM stored) >= 0
                ) AS notified`
        }`,
      ),

    // $1 queues[], $2 now -> { delayed, lease }: the earliest delayed row of any queue, and
    // when the earliest live lease of these queues ends (null: none).
    nextWake: `SELECT (SELECT min(deliver_at) FROM ${m} WHERE deliver_at > 0)::float8 AS delayed,
                      (SELECT min(lease_until) FROM ${m}
                       WHERE queue = ANY($1::text[]) AND deliver_at = 0 AND lease_until > $2)::float8 AS lease`,

    // $1 ids[], $2 owners[] -> rows (id) acked (missing: the lease was lost; nothing touched).
    ack: `DELETE FROM ${m} AS msg USING unnest($1::bigint[], $2::text[]) AS k(id, owner)
          WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id::float8 AS id`,

    // $1 ids[], $2 owners[], $3 results as one JSON array of [key, value, expiresAt (0 =
    // never)], $4 the results' channel, $5 notify payloads[] -> rows (id) acked, plus one
    // row of null id per payload. The acks and the results they carry (result-carrier.ts)
    // in one statement, so one commit: `table` is the result backend's, on this database.
    // As `ack` and the backend's own store write them; the NOTIFYs go out on commit.
    ackStoring: (table: string) => `WITH ${storingCtes(table, '$3')} acked AS (
                   DELETE FROM ${m} AS msg USING unnest($1::bigint[], $2::text[]) AS k(id, owner)
                   WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id
                 )
                 SELECT id::float8 AS id FROM acked
                 UNION ALL
                 SELECT NULL FROM (
                   SELECT pg_notify($4, p.payload) AS sent FROM unnest($5::text[]) AS p(payload)
                   WHERE (SELECT count(*) FROM stored) >= 0
                 ) AS notified`,

    // $1 ids[], $2 owners[] -> rows (id). Back to ready at once, flagged redelivered.
    requeue: `UPDATE ${m} AS msg SET lease_owner = NULL, lease_until = 0, redelivered = true
              FROM unnest($1::bigint[], $2::text[]) AS k(id, owner)
              WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id::float8 AS id`,

    // $1 ids[], $2 owners[], $3 deliverAts[] (0 = ready now) -> rows (id). Never lost or doubled.
    defer: `UPDATE ${m} AS msg SET deliver_at = k.at, lease_owner = NULL, lease_until = 0, redelivered = false
            FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS k(id, owner, at)
            WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id::float8 AS id`,

    // $1 ids[], $2 owners[] -> rows (id). Ready at once; the kept owner marks it redelivered on the next claim.
    release: `UPDATE ${m} AS msg SET lease_until = 0
              FROM unnest($1::bigint[], $2::text[]) AS k(id, owner)
              WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id::float8 AS id`,

    // $1 ids[], $2 owners[], $3 reasons[], $4 now -> rows (id). Moves the rows in one statement.
    deadLetter: `WITH k AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(id, owner, reason)),
                 moved AS (
                   DELETE FROM ${m} AS msg USING k WHERE msg.id = k.id AND msg.lease_owner = k.owner
                   RETURNING msg.*, k.reason
                 )
                 INSERT INTO ${d} (id, queue, priority, deliveries, created_at, envelope, reason, dead_at)
                 SELECT id, queue, priority, deliveries, created_at, envelope, reason, $4 FROM moved
                 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, dead_at = excluded.dead_at
                 RETURNING id::float8 AS id`,

    // $1 ids[], $2 owners[], $3 leaseUntil -> rows (id) still held (missing: the lease was lost).
    renew: `UPDATE ${m} AS msg SET lease_until = $3
            FROM unnest($1::bigint[], $2::text[]) AS k(id, owner)
            WHERE msg.id = k.id AND msg.lease_owner = k.owner RETURNING msg.id::float8 AS id`,

    // $1 queue, $2 now -> rowCount. The rows `length` counts: ready and not leased, and
    // delayed rows already due. Delayed rows not yet due stay, as Celery's purge leaves ETA tasks.
    purge: `DELETE FROM ${m} WHERE queue = $1 AND (
              (deliver_at = 0 AND lease_until <= $2) OR (deliver_at > 0 AND deliver_at <= $2))`,

    // $1 queue, $2 now -> { n }: waiting rows, i.e. ready or due and not leased.
    length: `SELECT count(*)::int AS n FROM ${m} WHERE queue = $1 AND (
               (deliver_at = 0 AND lease_until <= $2) OR (deliver_at > 0 AND deliver_at <= $2))`,

    // $1 queue, $2 now -> { at } (null when none): the oldest created_at of the rows `length` counts.
    oldest: `SELECT min(created_at)::float8 AS at FROM ${m} WHERE queue = $1 AND (
               (deliver_at = 0 AND lease_until <= $2) OR (deliver_at > 0 AND deliver_at <= $2))`,

    // $1 queue, $2 ids (bigint[]), $3 now, $4 channel -> one row per distinct queue: the
    // letters deleted and inserted back as new ready rows in one statement (so a letter two
    // callers redrive at once moves once: the second finds it deleted), and the NOTIFY.
    redrive: `WITH moved AS (
                DELETE FROM ${d} WHERE queue = $1 AND id = ANY($2::bigint[])
                RETURNING id, queue, priority, envelope
              ), ins AS (
                INSERT INTO ${m} (queue, priority, deliver_at, created_at, envelope)
                SELECT queue, priority, 0, $3, envelope FROM moved ORDER BY id
                RETURNING queue
              )
              SELECT count(*)::int AS n, pg_notify($4, $1) AS notified FROM ins`,

    // $1 queue, $2 limit -> rows (id, queue, reason, dead_at, deliveries, envelope), oldest first.
    deadLetters: `SELECT id::float8 AS id, queue, reason, dead_at::float8 AS dead_at, deliveries, envelope
                  FROM ${d} WHERE queue = $1 ORDER BY id LIMIT $2`,

    // $1 channel, $2 payload -> one row. A broadcast small enough for NOTIFY itself.
    broadcast: `SELECT pg_notify($1, $2)`,

    // $1 exchange, $2 routing key, $3 now, $4 envelope, $5 channel -> one row. A broadcast
    // too large for NOTIFY: the row and a notification naming it (with its exchange and
    // routing key, so listeners bound elsewhere never read it), sent on commit, after the
    // row is visible.
    broadcastLarge: `WITH ins AS (
                       INSERT INTO ${b} (exchange, routing_key, sent_at, envelope)
                       VALUES ($1, $2, $3, $4) RETURNING id
                     )
                     SELECT pg_notify($5, concat_ws(E'\\x1f', 'r', $1::text, $2::text, id::text)) FROM ins`,

    // $1 id -> { sent_at, envelope } | none (pruned).
    readBroadcast: `SELECT sent_at::float8 AS sent_at, envelope FROM ${b} WHERE id = $1`,

    // $1 before (unix ms) -> rowCount. Broadcast rows every listener has had time to read.
    pruneBroadcasts: `DELETE FROM ${b} WHERE id IN (
                        SELECT id FROM ${b} WHERE sent_at < $1 ORDER BY sent_at LIMIT 1000)`,

    // $1 deadBefore (unix ms), $2 batch -> rowCount. One batch of the retention's deletes:
    // short statements, so no long lock; the caller repeats while a full batch went.
    deleteOldDeadLetters: `DELETE FROM ${d} WHERE id IN (
                             SELECT id FROM ${d} WHERE dead_at < $1 ORDER BY dead_at LIMIT $2)`,
  };
}

export type BrokerSql = ReturnType<typeof brokerSql>;
