/**
 * Typed access to the broker's tables over a pool (or, for a publish inside the user's
 * transaction, over the user's own client): each method runs statements from
 * `broker-sql.ts`, batched with arrays so a batch of any size is one round trip per kind.
 * Knows rows and envelope text, never TransportMessages.
 */
import type { Pool } from 'pg';
import type { Queryable } from '../../connections/pg/db-client.js';
import { brokerSql, type BrokerSql } from './broker-sql.js';

export interface StoredRow {
  queue: string;
  priority: number;
  /** 0 = ready now. */
  deliverAt: number;
  envelope: string;
}

export interface ClaimedRow {
  id: number;
  queue: string;
  priority: number;
  redelivered: boolean;
  envelope: string;
}

/** One settle operation, run with the others of its turn by `settleBatch`. */
export type SettleOp =
  | { kind: 'ack'; id: number; owner: string; queue: string }
  | { kind: 'requeue'; id: number; owner: string; queue: string }
  | { kind: 'dead'; id: number; owner: string; queue: string; reason: string }
  | { kind: 'defer'; id: number; owner: string; queue: string; deliverAt: number }
  | { kind: 'release'; id: number; owner: string; queue: string };

export interface DeadLetterRow {
  id: number;
  queue: string;
  reason: string;
  dead_at: number;
  deliveries: number;
  envelope: string;
}

type IdRow = { id: number };

export class MessageStore {
  readonly sql: BrokerSql;

  /**
   * @param pool publishes, purges and reads: commits are durable when they return.
   * @param workPool claims, settles and renewals, with asynchronous commit: a database crash
   *   may forget the last moment of them, and the messages are then delivered again (at
   *   least once), never lost.
   */
  constructor(
    private readonly pool: Pool,
    private readonly workPool: Pool,
    schema: string,
    prefix: string,
    readonly channel: string,
  ) {
    this.sql = brokerSql(schema, prefix);
  }

  private get db(): Queryable {
    return this.pool;
  }

  private get work(): Queryable {
    return this.workPool;
  }

  /** Inserts all rows in one statement (so all or none), on `db` when given (the user's transaction). */
  async insert(rows: readonly StoredRow[], now: number, db: Queryable = this.db): Promise<void> {
    await db.query(this.sql.insert, [
      JSON.stringify(rows.map((r) => [r.queue, r.priority, r.deliverAt, r.envelope])),
      now,
      this.channel,
    ]);
  }

  /** Makes due delayed rows ready; returns how many. */
  async promoteDue(now: number): Promise<number> {
    return (await this.work.query(this.sql.promoteDue, [now])).rowCount ?? 0;
  }

  /** Leases up to `limit` ready rows of `queues` to `owner`, in delivery order (priority, then age). */
  async claim(
    queues: readonly string[],
    owner: string,
    limit: number,
    now: number,
    leaseMs: number,
  ): Promise<ClaimedRow[]> {
    const { rows } = await this.work.query<ClaimedRow>(this.sql.claim, [
      queues,
      now,
      limit,
      owner,
      now + leaseMs,
    ]);
    return rows.sort((a, b) => b.priority - a.priority || a.id - b.id);
  }

  /** The earliest delayed row (any queue) and the earliest live lease of `queues`. */
  async nextWake(
    queues: readonly string[],
    now: number,
  ): Promise<{ delayed: number | undefined; lease: number | undefined }> {
    const { rows } = await this.work.query<{ delayed: number | null; lease: number | null }>(
      this.sql.nextWake,
      [queues, now],
    );
    return { delayed: rows[0]?.delayed ?? undefined, lease: rows[0]?.lease ?? undefined };
  }

  /** Runs settle operations, one statement per kind present; returns, per op, whether its lease held. */
  async settleBatch(ops: readonly SettleOp[], now: number): Promise<boolean[]> {
    const done = new Set<number>();
    const byKind = new Map<SettleOp['kind'], SettleOp[]>();
    for (const op of ops) {
      let list = byKind.get(op.kind);
      if (!list) byKind.set(op.kind, (list = []));
      list.push(op);
    }
    const s = this.sql;
    const freed = new Set<string>();
    for (const [kind, list] of byKind) {
      const ids = list.map((op) => op.id);
      const owners = list.map((op) => op.owner);
      let result: { rows: IdRow[] };
      switch (kind) {
        case 'ack':
          result = await this.work.query<IdRow>(s.ack, [ids, owners]);
          break;
        case 'requeue':
          result = await this.work.query<IdRow>(s.requeue, [ids, owners]);
          break;
        case 'release':
          result = await this.work.query<IdRow>(s.release, [ids, owners]);
          break;
        case 'defer':
          result = await this.work.query<IdRow>(s.defer, [
            ids,
            owners,
            list.map((op) =>
              op.kind === 'defer' && op.deliverAt > now ? Math.ceil(op.deliverAt) : 0,
            ),
          ]);
          break;
        case 'dead':
          result = await this.work.query<IdRow>(s.deadLetter, [
            ids,
            owners,
            list.map((op) => (op.kind === 'dead' ? op.reason : '')),
            now,
          ]);
          break;
      }
      for (const row of result.rows) done.add(row.id);
      if (kind !== 'ack' && kind !== 'dead')
        for (const op of list) if (done.has(op.id)) freed.add(op.queue);
    }
    if (freed.size > 0)
      await this.work.query(`SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`, [
        this.channel,
        [...freed],
      ]);
    return ops.map((op) => done.has(op.id));
  }

  /** Extends the leases of held rows in one statement; returns those whose lease was lost. */
  async renew<T extends { id: number; owner: string }>(
    held: readonly T[],
    leaseUntil: number,
  ): Promise<T[]> {
    const { rows } = await this.work.query<IdRow>(this.sql.renew, [
      held.map((h) => h.id),
      held.map((h) => h.owner),
      leaseUntil,
    ]);
    const kept = new Set(rows.map((row) => row.id));
    return held.filter((h) => !kept.has(h.id));
  }

  async purge(queue: string, now: number): Promise<number> {
    return (await this.db.query(this.sql.purge, [queue, now])).rowCount ?? 0;
  }

  async length(queue: string, now: number): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(this.sql.length, [queue, now]);
    return rows[0]?.n ?? 0;
  }

  async oldest(queue: string, now: number): Promise<number | null> {
    const { rows } = await this.db.query<{ at: number | null }>(this.sql.oldest, [queue, now]);
    return rows[0]?.at ?? null;
  }

  /** Moves dead letters back to the queue as new ready rows, in one statement; how many moved. */
  async redrive(queue: string, ids: readonly number[], now: number): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(this.sql.redrive, [
      queue,
      ids,
      now,
      this.channel,
    ]);
    return rows[0]?.n ?? 0;
  }

  async deadLetters(queue: string, limit: number): Promise<DeadLetterRow[]> {
    return (await this.db.query<DeadLetterRow>(this.sql.deadLetters, [queue, limit])).rows;
  }

  /** Deletes dead letters older than `before`, in batches of `batch`; returns how many. */
  async deleteOldDeadLetters(before: number, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.db.query(this.sql.deleteOldDeadLetters, [before, batch])).rowCount ?? 0;
      total += n;
      if (n < batch) return total;
    }
  }
}
