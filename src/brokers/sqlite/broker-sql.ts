/**
 * Every SQL statement of the SQLite broker, each with a header listing its parameters and
 * what it returns. Table names come from the key prefix through `tableName` (quoted,
 * sanitised); values are always bound parameters, never spliced into the text.
 *
 * Row life cycle in `messages`:
 *   deliver_at > 0              delayed: not before that unix ms (promoted to 0 when due)
 *   deliver_at = 0              ready, unless leased: lease_until > now
 *   lease_owner, lease_until    the claim token holding it and until when (0 = released)
 *   redelivered                 set when a row goes back without an ack (requeue, lost lease)
 * Ready rows are indexed by (queue, priority DESC, id) over `deliver_at = 0` only, so a
 * claim never walks past delayed rows, however many there are.
 */
import { tableName } from '../../connections/sqlite/database.js';

export interface BrokerSql {
  schema: string[];
  expiresColumn: string;
  addExpiresColumn: string;
  insert: string;
  promoteDue: string;
  claim: (queueCount: number) => string;
  nextDelayed: string;
  nextLeaseExpiry: string;
  ack: string;
  requeue: string;
  defer: string;
  deadLetterCopy: string;
  renew: string;
  release: string;
  purgeReady: string;
  purgeDelayed: string;
  length: string;
  oldest: string;
  deadLetters: string;
  redrive: string;
  redriveDelete: string;
}

export function brokerSql(prefix: string): BrokerSql {
  const m = tableName(prefix, 'messages');
  const d = tableName(prefix, 'dead_letters');
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${m} (
        id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so a stale (id, owner) settles nothing
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        deliver_at INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until INTEGER NOT NULL DEFAULT 0,
        deliveries INTEGER NOT NULL DEFAULT 0,
        redelivered INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        envelope TEXT NOT NULL,
        expires_at INTEGER NOT NULL DEFAULT 0 -- 0 = never; past it a claim dead-letters the row
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'messages_ready')} ON ${m} (queue, priority DESC, id) WHERE deliver_at = 0`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'messages_delayed')} ON ${m} (deliver_at) WHERE deliver_at > 0`,
      `CREATE TABLE IF NOT EXISTS ${d} (
        id INTEGER PRIMARY KEY, -- the message's id in messages
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        deliveries INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        envelope TEXT NOT NULL,
        reason TEXT NOT NULL,
        dead_at INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'dead_letters_queue')} ON ${d} (queue, id)`,
    ],

    // A file made before expiry was stored: its messages table lacks the column (added then).
    expiresColumn: `SELECT count(*) AS n FROM pragma_table_info('${m.slice(1, -1)}') WHERE name = 'expires_at'`,
    addExpiresColumn: `ALTER TABLE ${m} ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0`,

    // @queue, @priority, @deliverAt (0 = ready now), @expiresAt (0 = never), @now, @envelope -> lastInsertRowid
    insert: `INSERT INTO ${m} (queue, priority, deliver_at, expires_at, created_at, envelope)
             VALUES (@queue, @priority, @deliverAt, @expiresAt, @now, @envelope)`,

    // @now -> changes. Makes due delayed rows ready (of every queue: any consumer may do it).
    promoteDue: `UPDATE ${m} SET deliver_at = 0 WHERE deliver_at > 0 AND deliver_at <= @now`,

    // @owner, @now, @leaseUntil, @limit, @q0..@q<n-1>
    //   -> rows (id, queue, priority, redelivered, envelope, expires_at) now leased to @owner,
    //   unordered. Those past their expiry are dead-lettered by the caller in the same transaction.
    // Each queue contributes its own best @limit through the ready index; the union is cut
    // to the overall best @limit by (priority DESC, id). A row whose lease expired still has
    // its old owner: that is what marks it redelivered.
    claim: (queueCount) => {
      const perQueue = Array.from(
        { length: queueCount },
        (_, i) => `SELECT * FROM (SELECT id, priority FROM ${m}
            WHERE queue = @q${i} AND deliver_at = 0 AND lease_until <= @now
            ORDER BY priority DESC, id LIMIT @limit)`,
      ).join(' UNION ALL ');
      return `UPDATE ${m}
        SET lease_owner = @owner, lease_until = @leaseUntil, deliveries = deliveries + 1,
            redelivered = (redelivered OR lease_owner IS NOT NULL)
        WHERE id IN (SELECT id FROM (${perQueue}) ORDER BY priority DESC, id LIMIT @limit)
        RETURNING id, queue, priority, redelivered, envelope, expires_at`;
    },

    // (no parameters) -> { at: number | null }: the earliest delayed row of any queue.
    nextDelayed: `SELECT MIN(deliver_at) AS at FROM ${m} WHERE deliver_at > 0`,

    // @queue, @now -> { at: number | null }: when the earliest live lease in the queue ends.
    // Asked only after a claim found nothing ready, so the queue's ready index holds leased rows only.
    nextLeaseExpiry: `SELECT MIN(lease_until) AS at FROM ${m}
                      WHERE queue = @queue AND deliver_at = 0 AND lease_until > @now`,

    // @id, @owner -> changes (0: the lease was lost to another consumer; nothing is touched).
    ack: `DELETE FROM ${m} WHERE id = @id AND lease_owner = @owner`,

    // @id, @owner -> changes. Back to ready at once, flagged redelivered.
    requeue: `UPDATE ${m} SET lease_owner = NULL, lease_until = 0, redelivered = 1
              WHERE id = @id AND lease_owner = @owner`,

    // @id, @owner, @deliverAt (0 = ready now) -> changes. One statement: never lost or doubled.
    defer: `UPDATE ${m} SET deliver_at = @deliverAt, lease_owner = NULL, lease_until = 0, redelivered = 0
            WHERE id = @id AND lease_owner = @owner`,

    // @id, @owner, @reason, @now -> changes. Followed by `ack` in the same transaction.
    deadLetterCopy: `INSERT OR REPLACE INTO ${d} (id, queue, priority, deliveries, created_at, envelope, reason, dead_at)
                     SELECT id, queue, priority, deliveries, created_at, envelope, @reason, @now
                     FROM ${m} WHERE id = @id AND lease_owner = @owner`,

    // @id, @owner, @leaseUntil -> changes (0: the lease was lost).
    renew: `UPDATE ${m} SET lease_until = @leaseUntil WHERE id = @id AND lease_owner = @owner`,

    // @id, @owner -> changes. Ready at once; the kept owner marks it redelivered on the next claim.
    release: `UPDATE ${m} SET lease_until = 0 WHERE id = @id AND lease_owner = @owner`,

    // @queue, @now -> changes. The rows `length` counts, through both indexes: ready and not
    // leased (a live lease is a delivery not yet settled), and delayed rows already due.
    // Delayed rows not yet due stay, as Celery's purge leaves ETA tasks.
    purgeReady: `DELETE FROM ${m} WHERE queue = @queue AND deliver_at = 0 AND lease_until <= @now`,
    purgeDelayed: `DELETE FROM ${m} WHERE deliver_at > 0 AND deliver_at <= @now AND queue = @queue`,

    // @queue, @now -> { n }: waiting rows, i.e. ready or due and not leased.
    // @queue, @now -> { at } (null when none): the oldest created_at of the ready rows `length` counts.
    oldest: `SELECT MIN(created_at) AS at FROM ${m} WHERE queue = @queue AND deliver_at = 0 AND lease_until <= @now`,

    length: `SELECT
               (SELECT COUNT(*) FROM ${m} WHERE queue = @queue AND deliver_at = 0 AND lease_until <= @now)
             + (SELECT COUNT(*) FROM ${m} WHERE deliver_at > 0 AND deliver_at <= @now AND queue = @queue) AS n`,

    // @queue, @limit -> rows (id, queue, reason, dead_at, deliveries, envelope), oldest first.
    deadLetters: `SELECT id, queue, reason, dead_at, deliveries, envelope FROM ${d}
                  WHERE queue = @queue ORDER BY id LIMIT @limit`,

    // @queue, @ids (JSON array), @now -> changes: the letters back in messages as new rows,
    // ready now. With redriveDelete in one transaction.
    redrive: `INSERT INTO ${m} (queue, priority, deliver_at, created_at, envelope)
              SELECT queue, priority, 0, @now, envelope FROM ${d}
              WHERE queue = @queue AND id IN (SELECT value FROM json_each(@ids)) ORDER BY id`,

    // @queue, @ids (JSON array) -> changes.
    redriveDelete: `DELETE FROM ${d} WHERE queue = @queue AND id IN (SELECT value FROM json_each(@ids))`,
  };
}
