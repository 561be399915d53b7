/**
 * The SQLite broker's broadcast log: one table of recent fanout, topic and direct messages
 * (remote control, replies, events) that every listening process reads forward from its own
 * cursor, the way a fanout exchange copies a message to every bound queue. Rows live for
 * `RETAIN_MS`, then whoever sends next deletes them. Knows rows and envelope text, never
 * TransportMessages. Created on first use, so a broker that never broadcasts has no table.
 * Must never `await` inside a transaction, and never touch the task tables.
 */
import type Database from 'better-sqlite3';
import {
  ensureSchema,
  statementCache,
  tableName,
  type DbHandle,
} from '../../connections/sqlite/database.js';

/** How long a broadcast row is kept for listeners of other processes to read (ms). */
export const RETAIN_MS = 60_000;
/** Most rows one read takes; a longer backlog is read on the next turn. */
const READ_LIMIT = 256;

export interface BroadcastRow {
  id: number;
  exchange: string;
  routing_key: string;
  /** Unix ms. */
  sent_at: number;
  envelope: string;
}

/** Every statement, with its parameters and what it returns. */
function broadcastSql(prefix: string) {
  const b = tableName(prefix, 'broadcasts');
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${b} (
        id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a cursor only moves forward
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        envelope TEXT NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${tableName(prefix, 'broadcasts_sent')} ON ${b} (sent_at)`,
    ],
    // @exchange, @routingKey, @sentAt, @envelope -> lastInsertRowid
    insert: `INSERT INTO ${b} (exchange, routing_key, sent_at, envelope)
             VALUES (@exchange, @routingKey, @sentAt, @envelope)`,
    // @before -> changes. Drops rows sent before @before (unix ms).
    prune: `DELETE FROM ${b} WHERE sent_at < @before`,
    // (no parameters) -> { id: number | null }: the newest row, where a new cursor starts.
    last: `SELECT MAX(id) AS id FROM ${b}`,
    // @after, @limit -> rows (id, exchange, routing_key, sent_at, envelope) after @after, oldest first.
    since: `SELECT id, exchange, routing_key, sent_at, envelope FROM ${b}
            WHERE id > @after ORDER BY id LIMIT @limit`,
  };
}

type Stmt = Database.Statement<unknown[], unknown>;

export class BroadcastStore {
  private readonly sql: ReturnType<typeof broadcastSql>;
  private readonly stmt: (text: string) => Stmt;
  private prunedAt = 0;

  constructor(handle: DbHandle, prefix: string) {
    this.sql = broadcastSql(prefix);
    this.stmt = statementCache(handle.db);
    ensureSchema(handle, this.sql.schema);
  }

  /** Appends one message; about once a second also drops rows older than `RETAIN_MS`. */
  insert(exchange: string, routingKey: string, envelope: string, now: number): void {
    this.stmt(this.sql.insert).run({ exchange, routingKey, sentAt: now, envelope });
    if (now - this.prunedAt >= 1000) {
      this.prunedAt = now;
      this.stmt(this.sql.prune).run({ before: now - RETAIN_MS });
    }
  }

  /** The newest row's id (0 when none): a listener starting now reads what comes after it. */
  lastId(): number {
    const row = this.stmt(this.sql.last).get() as { id: number | null } | undefined;
    return row?.id ?? 0;
  }

  /** Rows after `after`, oldest first, at most a read's worth. */
  since(after: number): BroadcastRow[] {
    return this.stmt(this.sql.since).all({ after, limit: READ_LIMIT }) as BroadcastRow[];
  }

  /** True when `since` returned a full read and more may be waiting. */
  static full(rows: readonly BroadcastRow[]): boolean {
    return rows.length === READ_LIMIT;
  }
}
