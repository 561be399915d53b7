/**
 * Typed access to the broker's tables over a pool (or, for a publish inside the user's
 * transaction, over the user's own client): each method runs statements from
 * `broker-sql.ts`, batched with arrays so a batch of any size is one round trip per kind.
 * Knows rows and envelope text, never TransportMessages.
 */
import { createHash } from 'node:crypto';
import type { Pool, QueryResultRow } from 'pg';
import type { Queryable } from '../../connections/pg/db-client.js';
import { batchPayloads, type CarriedResult } from '../../connections/pg/result-carrier.js';
import { brokerSql, type BrokerSql } from './broker-sql.js';
import {
  EXPIRED_REASON,
  type ClaimedRow,
  type DeadLetterRow,
  type QueueStore,
  type SettleOp,
  type StoredRow,
} from '../sql/queue-store.js';

/** Due delayed rows are promoted at least this often while a queue stays busy. */
const PROMOTE_EVERY_MS = 1000;

type IdRow = { id: number };

/** Acks riding with a claim, and how their settle batch learns the outcome. */
interface Riders {
  ops: readonly SettleOp[];
  resolve: (held: boolean[]) => void;
  reject: (error: Error) => void;
}

interface OpenClaim {
  params: unknown[];
  riders: Riders | undefined;
}

/** A batch of acks only, carrying results for one table at most: what can ride with a claim. */
function ridable(ops: readonly SettleOp[]): boolean {
  let table: string | undefined;
  for (const op of ops) {
    if (op.kind !== 'ack') return false;
    if (op.carried === undefined) continue;
    const target = (op.carried as CarriedResult).target.table;
    if (table !== undefined && target !== table) return false;
    table = target;
  }
  return ops.length > 0;
}

/** U+001E, joining the envelopes of one insert; JSON text never holds it raw. */
const SEPARATOR_BYTE = 0x1e;

/**
 * Rows per statement of a pipelined insert (see `insertPipelined`); a batch up to this size
 * is one statement, one round trip (with 250, a batch of 1,000 took six: BEGIN, four
 * inserts, COMMIT, and its server CPU per row was about a third higher).
 */
export const PIPELINE_CHUNK = 1000;

/**
 * Runs each statement text as a named prepared statement, so a connection parses and plans
 * it once rather than on every claim, ack and publish. Names come from the text's hash: the
 * same text always has the same name, and no two texts share one.
 */
function prepared(pool: () => Pool): Queryable {
  const names = new Map<string, string>();
  return {
    query<TRow>(text: string, values?: unknown[]) {
      let name = names.get(text);
      if (name === undefined) {
        name = `celeriac_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
        names.set(text, name);
      }
      return pool().query<TRow & QueryResultRow>({ name, text, values: values ?? [] });
    },
  };
}

/**
 * The rows' envelopes as UTF-8 bytes joined by U+001E, for the statement's text parameter
 * (pg sends a Buffer as it is, in binary format: for text, the bytes themselves). Written
 * into one Buffer rather than joined into one string: a batch's text is far past V8's
 * largest ordinary heap string (128 KiB), and each such string costs a large-object
 * allocation plus a copy pg makes again while encoding it, several µs per row in all.
 * @throws Error when an envelope holds a raw U+001E (it would split into two rows).
 */
export function joinEnvelopes(rows: readonly StoredRow[]): Buffer {
  // Sized for ASCII, one byte per code unit: kombu writes JSON with ensure_ascii. Wider
  // text (a hand-made envelope) only makes the buffer grow.
  let rest = rows.length - 1;
  for (const row of rows) rest += row.envelope.length;
  let bytes = Buffer.allocUnsafe(Math.max(rest, 0));
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const envelope = rows[i]!.envelope;
    if (i > 0) bytes[at++] = SEPARATOR_BYTE;
    rest -= envelope.length + (i > 0 ? 1 : 0);
    if (bytes.length - at < envelope.length * 3) {
      const needed = at + Buffer.byteLength(envelope) + rest;
      if (needed > bytes.length) {
        const grown = Buffer.allocUnsafe(needed);
        bytes.copy(grown, 0, 0, at);
        bytes = grown;
      }
    }
    at += bytes.write(envelope, at);
  }
  const joined = bytes.subarray(0, at);
  // One native scan of the bytes written: exactly one separator between each two rows.
  let separators = 0;
  for (let found = joined.indexOf(SEPARATOR_BYTE); found !== -1;) {
    separators += 1;
    found = joined.indexOf(SEPARATOR_BYTE, found + 1);
  }
  if (separators !== rows.length - 1)
    throw new Error('A kombu envelope holds a raw U+001E character: it is not JSON text.');
  return joined;
}

export class MessageStore implements QueueStore {
  readonly sql: BrokerSql;
  /** The earliest delayed row the last `nextWakeAt` saw; a claim from then on promotes first. */
  private delayedAt: number | undefined;
  private lastPromote = 0;
  /** `ackStoring` per results table. */
  private readonly ackStoringText = new Map<string, string>();
  /** `claimRiding` per results table ('' for none). */
  private readonly claimRidingText = new Map<string, string>();
  /** A claim waiting for the turn to end, which acks asked for meanwhile ride with. */
  private openClaim: OpenClaim | undefined;

  /**
   * @param pool publishes, purges and reads: commits are durable when they return.
   * @param workPool claims, settles and renewals, with asynchronous commit: a database crash
   *   may forget the last moment of them, and the messages are then delivered again (at
   *   least once), never lost.
   * @param prepare run statements as named prepared statements (false behind a pooler that
   *   cannot keep them, such as PgBouncer before 1.21 in transaction mode).
   */
  constructor(
    private readonly pool: Pool,
    private readonly workPool: Pool,
    schema: string,
    prefix: string,
    readonly channel: string,
    private readonly prepare = true,
  ) {
    this.sql = brokerSql(schema, prefix);
    this.db = prepare ? prepared(() => this.pool) : this.pool;
    this.work = prepare ? prepared(() => this.workPool) : this.workPool;
  }

  /** Durable statements (publishes, purges, reads), each prepared once per connection. */
  private readonly db: Queryable;
  /** Claims, settles, renewals (asynchronous commit), each prepared once per connection. */
  private readonly work: Queryable;

  /** Inserts all rows in one statement (so all or none), on `db` when given (the user's transaction). */
  async insert(rows: readonly StoredRow[], now: number, db: Queryable = this.db): Promise<void> {
    await db.query(this.sql.insert, [
      JSON.stringify(rows.map((r) => [r.queue, r.priority, r.deliverAt, r.expiresAt])),
      joinEnvelopes(rows),
      now,
      this.channel,
    ]);
  }

  /**
   * Inserts `count` rows in one transaction on one connection, `PIPELINE_CHUNK` rows per
   * statement, encoding each chunk (`encode(from, to)`) while the server inserts the one
   * before: the client's encoding and the server's work overlap instead of following each
   * other. All rows or none, as `insert`; the NOTIFYs go out at the commit (PostgreSQL
   * folds the chunks' identical ones into one).
   */
  async insertPipelined(
    count: number,
    encode: (from: number, to: number) => readonly StoredRow[],
    now: number,
  ): Promise<void> {
    const client = await this.pool.connect();
    const db = this.prepare ? prepared(() => client as unknown as Pool) : client;
    let broken: Error | undefined;
    let inFlight: Promise<void> | undefined;
    try {
      await client.query('BEGIN');
      for (let from = 0; from < count; from += PIPELINE_CHUNK) {
        // Encoded while the statement before runs on the server.
        const rows = encode(from, Math.min(count, from + PIPELINE_CHUNK));
        if (inFlight) await inFlight;
        inFlight = this.insert(rows, now, db);
      }
      await inFlight;
      await client.query('COMMIT');
    } catch (error) {
      await inFlight?.catch(() => undefined);
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Makes due delayed rows ready; returns how many. */
  async promoteDue(now: number): Promise<number> {
    return (await this.work.query(this.sql.promoteDue, [now])).rowCount ?? 0;
  }

  /**
   * Leases up to `limit` ready rows of `queues` to `owner`, in delivery order (priority,
   * then age), after promoting due delayed rows when one is known due or a second passed.
   * Rows past their expiry come back dead-lettered and flagged `expired`.
   */
  async claim(
    queues: readonly string[],
    owner: string,
    limit: number,
    now: number,
    leaseMs: number,
  ): Promise<ClaimedRow[]> {
    if (
      (this.delayedAt !== undefined && this.delayedAt <= now) ||
      now - this.lastPromote >= PROMOTE_EVERY_MS
    ) {
      this.lastPromote = now;
      this.delayedAt = undefined;
      await this.promoteDue(now);
    }
    const params = [queues, now, limit, owner, now + leaseMs, EXPIRED_REASON];
    // Sent on the next turn, so the acks asked for in this one ride with it (`settleBatch`).
    const claim: OpenClaim = { params, riders: undefined };
    this.openClaim = claim;
    await new Promise((resolve) => setImmediate(resolve));
    if (this.openClaim === claim) this.openClaim = undefined;
    const rows = claim.riders
      ? await this.claimRiding(claim.params, claim.riders)
      : (await this.work.query<ClaimedRow>(this.sql.claim, params)).rows;
    return rows.sort((a, b) => b.priority - a.priority || a.id - b.id);
  }

  /**
   * The claim and the acks that rode with it (with the results they carry) in one
   * statement. On a failure both callers are told: the consumer claims again later, and
   * the settle batcher retries the acks alone (`commitSettles`).
   */
  private async claimRiding(params: unknown[], riders: Riders): Promise<ClaimedRow[]> {
    const { ops } = riders;
    const results = ops.flatMap((op) =>
      op.kind === 'ack' && op.carried !== undefined ? [op.carried as CarriedResult] : [],
    );
    const table = results[0]?.target.table;
    let text = this.claimRidingText.get(table ?? '');
    if (text === undefined)
      this.claimRidingText.set(table ?? '', (text = this.sql.claimRiding(table)));
    const values = [...params, ops.map((op) => op.id), ops.map((op) => op.owner)];
    if (table !== undefined)
      values.push(
        JSON.stringify(results.map((r) => [r.key, r.value, r.expiresAt])),
        results[0]!.target.channel,
        batchPayloads(results.map((r) => r.payload)),
      );
    let rows: Array<ClaimedRow & { k: string }>;
    try {
      rows = (await this.work.query<ClaimedRow & { k: string }>(text, values)).rows;
    } catch (error) {
      riders.reject(error as Error);
      throw error;
    }
    const acked = new Set<number>();
    const claimed: ClaimedRow[] = [];
    for (const row of rows)
      if (row.k === 'a') acked.add(row.id);
      else if (row.k !== 'n') claimed.push(row);
    riders.resolve(ops.map((op) => acked.has(op.id)));
    return claimed;
  }

  /** The earliest delayed row (any queue) or end of a live lease of `queues`. */
  async nextWakeAt(queues: readonly string[], now: number): Promise<number | undefined> {
    const { rows } = await this.work.query<{ delayed: number | null; lease: number | null }>(
      this.sql.nextWake,
      [queues, now],
    );
    this.delayedAt = rows[0]?.delayed ?? undefined;
    const times = [rows[0]?.delayed, rows[0]?.lease].filter(
      (t): t is number => typeof t === 'number',
    );
    return times.length ? Math.min(...times) : undefined;
  }

  /** Runs settle operations, one statement per kind present; returns, per op, whether its lease held. */
  async settleBatch(ops: readonly SettleOp[], now: number): Promise<boolean[]> {
    const claim = this.openClaim;
    if (claim && !claim.riders && ridable(ops))
      return new Promise((resolve, reject) => (claim.riders = { ops, resolve, reject }));
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
          result = await this.ack(list, ids, owners);
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

  /**
   * The acks of a batch, in one statement with the results they carry (result-carrier.ts):
   * one commit for both. Results for another table (a second app's backend) go in a
   * statement of their own, acking nothing.
   */
  private async ack(
    list: readonly SettleOp[],
    ids: readonly number[],
    owners: readonly string[],
  ): Promise<{ rows: IdRow[] }> {
    const byTable = new Map<string, CarriedResult[]>();
    for (const op of list) {
      if (op.kind !== 'ack' || op.carried === undefined) continue;
      const result = op.carried as CarriedResult;
      let results = byTable.get(result.target.table);
      if (!results) byTable.set(result.target.table, (results = []));
      results.push(result);
    }
    if (byTable.size === 0) return this.work.query<IdRow>(this.sql.ack, [ids, owners]);
    let acked: { rows: IdRow[] } = { rows: [] };
    let first = true;
    for (const [table, results] of byTable) {
      let text = this.ackStoringText.get(table);
      if (text === undefined) this.ackStoringText.set(table, (text = this.sql.ackStoring(table)));
      const { rows } = await this.work.query<{ id: number | null }>(text, [
        first ? ids : [],
        first ? owners : [],
        JSON.stringify(results.map((r) => [r.key, r.value, r.expiresAt])),
        results[0]!.target.channel,
        batchPayloads(results.map((r) => r.payload)),
      ]);
      if (first) acked = { rows: rows.filter((row): row is IdRow => row.id !== null) };
      first = false;
    }
    return acked;
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
