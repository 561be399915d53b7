/**
 * Typed, synchronous access to the broker's tables on one connection: each method runs
 * prepared statements from `broker-sql.ts`, and the ones that change several rows do so
 * in one `BEGIN IMMEDIATE` transaction (the write lock up front, so two processes never
 * deadlock upgrading a read). Knows rows and envelope text, never TransportMessages.
 * Must never `await` inside a transaction.
 */
import type Database from 'better-sqlite3';
import { brokerSql, type BrokerSql } from './broker-sql.js';
import {
  EXPIRED_REASON,
  type ClaimedRow,
  type DeadLetterRow,
  type QueueStore,
  type SettleOp,
  type StoredRow,
} from '../sql/queue-store.js';
import {
  ensureSchema,
  statementCache,
  type Db,
  type DbHandle,
} from '../../connections/sqlite/database.js';

type Stmt = Database.Statement<unknown[], unknown>;

export class MessageStore implements QueueStore {
  private readonly sql: BrokerSql;
  private readonly db: Db;
  private readonly stmt: (text: string) => Stmt;
  /** The hot transactions, wrapped once (better-sqlite3 builds a wrapper per `transaction()` call). */
  private readonly insertTx: Database.Transaction<
    (rows: readonly StoredRow[], now: number) => void
  >;
  private readonly settleTx: Database.Transaction<
    (ops: readonly SettleOp[], now: number) => boolean[]
  >;
  private readonly claimTxs = new Map<
    number,
    Database.Transaction<
      (params: Record<string, string | number>, owner: string, now: number) => ClaimedRow[]
    >
  >();

  constructor(handle: DbHandle, prefix: string) {
    this.sql = brokerSql(prefix);
    this.db = handle.db;
    this.stmt = statementCache(this.db);
    ensureSchema(handle, this.sql.schema);
    this.db
      .transaction(() => {
        const { n } = this.stmt(this.sql.expiresColumn).get() as { n: number };
        if (n === 0) this.db.exec(this.sql.addExpiresColumn);
      })
      .immediate();
    const insert = this.stmt(this.sql.insert);
    this.insertTx = this.db.transaction((rows: readonly StoredRow[], now: number) => {
      for (const row of rows) insert.run({ ...row, now });
    });
    this.settleTx = this.db.transaction((ops: readonly SettleOp[], now: number) =>
      ops.map((op) => this.settleOne(op, now)),
    );
  }

  /** Inserts all rows in one transaction; returns nothing until they are committed. */
  insert(rows: readonly StoredRow[], now: number): void {
    if (rows.length === 1) this.stmt(this.sql.insert).run({ ...rows[0]!, now });
    else if (rows.length > 1) this.insertTx.immediate(rows, now);
  }

  /**
   * Promotes due delayed rows and leases up to `limit` ready rows of `queues` to `owner`,
   * in one transaction. Returns them in delivery order: priority first, then age.
   */
  claim(
    queues: readonly string[],
    owner: string,
    limit: number,
    now: number,
    leaseMs: number,
  ): ClaimedRow[] {
    const params: Record<string, string | number> = {
      owner,
      now,
      leaseUntil: now + leaseMs,
      limit,
    };
    queues.forEach((queue, i) => (params[`q${i}`] = queue));
    let claimTx = this.claimTxs.get(queues.length);
    if (!claimTx) {
      const claim = this.stmt(this.sql.claim(queues.length));
      const promote = this.stmt(this.sql.promoteDue);
      claimTx = this.db.transaction(
        (params: Record<string, string | number>, owner: string, now: number) => {
          promote.run({ now });
          const leased = claim.all(params) as Array<ClaimedRow & { expires_at: number }>;
          for (const row of leased) {
            row.expired = row.expires_at > 0 && row.expires_at <= now;
            if (row.expired) this.deadLetterNow(row.id, owner, EXPIRED_REASON, now);
          }
          return leased;
        },
      );
      this.claimTxs.set(queues.length, claimTx);
    }
    const rows = claimTx.immediate(params, owner, now);
    return rows.sort((a, b) => b.priority - a.priority || a.id - b.id);
  }

  /** Moves a row this owner holds to the dead letters (inside the caller's transaction). */
  private deadLetterNow(id: number, owner: string, reason: string, now: number): boolean {
    const key = { id, owner };
    if (this.stmt(this.sql.deadLetterCopy).run({ ...key, reason, now }).changes === 0) return false;
    return this.stmt(this.sql.ack).run(key).changes > 0;
  }

  /** The earliest time something in `queues` may become claimable, or undefined if nothing is pending. */
  nextWakeAt(queues: readonly string[], now: number): number | undefined {
    const times: number[] = [];
    const delayed = this.stmt(this.sql.nextDelayed).get() as { at: number | null };
    if (delayed.at !== null) times.push(delayed.at);
    const lease = this.stmt(this.sql.nextLeaseExpiry);
    for (const queue of queues) {
      const row = lease.get({ queue, now }) as { at: number | null };
      if (row.at !== null) times.push(row.at);
    }
    return times.length ? Math.min(...times) : undefined;
  }

  /** Runs settle operations in one transaction; returns, per operation, whether its lease still held. */
  settleBatch(ops: readonly SettleOp[], now: number): boolean[] {
    return this.settleTx.immediate(ops, now);
  }

  private settleOne(op: SettleOp, now: number): boolean {
    const s = this.sql;
    const key = { id: op.id, owner: op.owner };
    switch (op.kind) {
      case 'ack':
        return this.stmt(s.ack).run(key).changes > 0;
      case 'requeue':
        return this.stmt(s.requeue).run(key).changes > 0;
      case 'release':
        return this.stmt(s.release).run(key).changes > 0;
      case 'defer':
        return (
          this.stmt(s.defer).run({ ...key, deliverAt: op.deliverAt > now ? op.deliverAt : 0 })
            .changes > 0
        );
      case 'dead':
        return this.deadLetterNow(op.id, op.owner, op.reason, now);
    }
  }

  /** Extends the leases of held rows in one transaction; returns those whose lease was lost. */
  renew<T extends { id: number; owner: string }>(held: readonly T[], leaseUntil: number): T[] {
    const renew = this.stmt(this.sql.renew);
    return this.db
      .transaction(() =>
        held.filter((h) => renew.run({ id: h.id, owner: h.owner, leaseUntil }).changes === 0),
      )
      .immediate();
  }

  /** Deletes the queue's ready rows (not leased, not delayed past `now`); returns how many. */
  purge(queue: string, now: number): number {
    return this.db
      .transaction(
        () =>
          this.stmt(this.sql.purgeReady).run({ queue, now }).changes +
          this.stmt(this.sql.purgeDelayed).run({ queue, now }).changes,
      )
      .immediate();
  }

  length(queue: string, now: number): number {
    return (this.stmt(this.sql.length).get({ queue, now }) as { n: number }).n;
  }

  oldest(queue: string, now: number): number | null {
    return (this.stmt(this.sql.oldest).get({ queue, now }) as { at: number | null }).at;
  }

  /** Moves dead letters back to the queue as new ready rows; returns how many moved. */
  redrive(queue: string, ids: readonly number[], now: number): number {
    return this.db
      .transaction(() => {
        const params = { queue, ids: JSON.stringify(ids) };
        const moved = this.stmt(this.sql.redrive).run({ ...params, now }).changes;
        this.stmt(this.sql.redriveDelete).run(params);
        return moved;
      })
      .immediate();
  }

  deadLetters(queue: string, limit: number): DeadLetterRow[] {
    return this.stmt(this.sql.deadLetters).all({ queue, limit }) as DeadLetterRow[];
  }
}
