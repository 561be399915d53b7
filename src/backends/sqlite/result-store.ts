/**
 * Typed, synchronous access to the result backend's tables on one connection. Writes
 * that bump a change sequence do it in the same `BEGIN IMMEDIATE` transaction as the
 * row they describe, so a watcher reading `seq > watermark` can never miss a change.
 * Stores meta as JSON text and parses it back; must never interpret a state.
 */
import type Database from 'better-sqlite3';
import {
  ensureSchema,
  statementCache,
  type Db,
  type DbHandle,
} from '../../connections/sqlite/database.js';
import type { ResultMeta } from '../../protocol/types.js';
import { backendSql, type BackendSql, type SequenceName } from './backend-sql.js';
import { countedStore, indexedFields, minuteOf } from '../task-index.js';
import type { TaskActivity, TaskTotals } from '../task-listing.js';

/** Minute counters are kept this long (the overview shows the last day). */
const COUNTS_KEPT_MINUTES = 7 * 24 * 60;

type Stmt = Database.Statement<unknown[], unknown>;

export interface ResultChange {
  taskId: string;
  meta: ResultMeta;
  seq: number;
}

export interface RevokeChange {
  taskId: string;
  terminate: boolean;
  seq: number;
}

export class ResultStore {
  /** The connection, for the read-only task listing (task-listing.ts). */
  readonly db: Db;
  private readonly sql: BackendSql;
  private readonly stmt: (text: string) => Stmt;
  /** The hot write, its transaction wrapper and statements built once, not per batch. */
  private readonly storeManyTx: Database.Transaction<
    (items: ReadonlyArray<{ meta: ResultMeta; expiresAt: number }>) => number[]
  >;

  /**
   * @param indexed index each store for the dashboard (task-index.ts): the app's
   *   `resultExtended`. Off, a store writes its row and its sequence only.
   */
  constructor(
    handle: DbHandle,
    prefix: string,
    private readonly indexed = false,
  ) {
    this.db = handle.db;
    this.stmt = statementCache(this.db);
    this.sql = backendSql(prefix);
    ensureSchema(handle, this.sql.schema);
    const bumpBy = this.stmt(this.sql.bumpSequenceBy);
    const upsert = this.stmt(this.sql.upsertResult);
    this.storeManyTx = this.db.transaction(
      (items: ReadonlyArray<{ meta: ResultMeta; expiresAt: number }>): number[] => {
        // One bump for the batch: its rows take the consecutive numbers up to the new value.
        const last = (bumpBy.get({ name: 'results', n: items.length }) as { value: number }).value;
        const first = last - items.length + 1;
        const seqs = new Array<number>(items.length);
        for (let i = 0; i < items.length; i++) {
          const { meta, expiresAt } = items[i]!;
          seqs[i] = first + i;
          upsert.run({
            taskId: meta.task_id,
            meta: JSON.stringify(meta),
            expiresAt,
            seq: first + i,
          });
        }
        if (this.indexed) this.index(items, Date.now());
        return seqs;
      },
    );
  }

  private bump(name: SequenceName): number {
    return (this.stmt(this.sql.bumpSequence).get({ name }) as { value: number }).value;
  }

  sequence(name: SequenceName): number {
    const row = this.stmt(this.sql.currentSequence).get({ name }) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Upserts the metas in one transaction and returns each one's change sequence number. */
  storeMany(items: ReadonlyArray<{ meta: ResultMeta; expiresAt: number }>): number[] {
    if (items.length === 0) return [];
    return this.storeManyTx.immediate(items);
  }

  /**
   * The dashboard's index rows of a batch of stores, inside storeMany's transaction: one
   * statement for the fields, one upsert per distinct counter.
   */
  private index(items: ReadonlyArray<{ meta: ResultMeta; expiresAt: number }>, now: number): void {
    const fields: Array<[string, string, number]> = [];
    const counts = new Map<string, { name: string; queue: string; state: string; n: number }>();
    const runtimes = new Map<
      string,
      { name: string; bucket: number; n: number; seconds: number }
    >();
    for (const { meta, expiresAt } of items) {
      for (const entry of indexedFields(meta)) fields.push([entry, meta.task_id, expiresAt]);
      const counted = countedStore(meta);
      const key = `${counted.name}\u0000${counted.queue}\u0000${counted.state}`;
      const count = counts.get(key);
      if (count) count.n++;
      else
        counts.set(key, { name: counted.name, queue: counted.queue, state: counted.state, n: 1 });
      if (counted.bucket !== undefined) {
        const runtimeKey = `${counted.name}\u0000${counted.bucket}`;
        const runtime = runtimes.get(runtimeKey);
        if (runtime) {
          runtime.n++;
          runtime.seconds += counted.seconds ?? 0;
        } else
          runtimes.set(runtimeKey, {
            name: counted.name,
            bucket: counted.bucket,
            n: 1,
            seconds: counted.seconds ?? 0,
          });
      }
    }
    if (fields.length > 0) this.stmt(this.sql.upsertFields).run({ rows: JSON.stringify(fields) });
    const countStore = this.stmt(this.sql.countStore);
    for (const count of counts.values()) {
      countStore.run({ minute: minuteOf(now), ...count });
      countStore.run({ minute: -1, ...count });
    }
    const countRuntime = this.stmt(this.sql.countRuntime);
    for (const runtime of runtimes.values()) countRuntime.run(runtime);
  }

  activity(since: number): TaskActivity[] {
    const rows = this.stmt(this.sql.activity).all({ since: minuteOf(since) }) as Array<
      Omit<TaskActivity, 'count' | 'minute'> & { minute: number; n: number }
    >;
    return rows.map(({ minute, n, ...rest }) => ({ ...rest, minute: minute * 60_000, count: n }));
  }

  totals(): TaskTotals {
    const counts = (
      this.stmt(this.sql.totals).all() as Array<{
        name: string;
        queue: string;
        state: string;
        n: number;
      }>
    ).map(({ n, ...rest }) => ({ ...rest, count: n }));
    const byName = new Map<string, { name: string; buckets: number[]; sum: number }>();
    for (const row of this.stmt(this.sql.runtimes).all() as Array<{
      name: string;
      bucket: number;
      n: number;
      seconds: number;
    }>) {
      let entry = byName.get(row.name);
      if (!entry) byName.set(row.name, (entry = { name: row.name, buckets: [], sum: 0 }));
      entry.buckets[row.bucket] = row.n;
      entry.sum += row.seconds;
    }
    return { counts, runtimes: [...byName.values()] };
  }

  get(taskId: string, now: number): ResultMeta | undefined {
    const row = this.stmt(this.sql.getResult).get({ taskId, now }) as { meta: string } | undefined;
    return row ? (JSON.parse(row.meta) as ResultMeta) : undefined;
  }

  /**
   * Metas changed with a sequence in (after, upto], oldest change first: of `taskIds`
   * only, or of every task when `taskIds` is undefined (cheaper for thousands of ids).
   */
  changedResults(
    taskIds: readonly string[] | undefined,
    after: number,
    upto: number,
  ): ResultChange[] {
    const rows = (
      taskIds
        ? this.stmt(this.sql.changedResults).all({ ids: JSON.stringify(taskIds), after, upto })
        : this.stmt(this.sql.changesSince).all({ after, upto })
    ) as Array<{ task_id: string; meta: string; seq: number }>;
    return rows.map((row) => ({
      taskId: row.task_id,
      meta: JSON.parse(row.meta) as ResultMeta,
      seq: row.seq,
    }));
  }

  /** Deletes the tasks' rows and, when indexed, their fields (found from their metas). */
  forget(taskIds: readonly string[]): void {
    const ids = JSON.stringify(taskIds);
    this.db
      .transaction(() => {
        if (this.indexed) {
          const rows = (
            this.stmt(this.sql.changedResults).all({
              ids,
              after: -1,
              upto: Number.MAX_SAFE_INTEGER,
            }) as Array<{
              meta: string;
            }>
          ).flatMap((row) => {
            const meta = JSON.parse(row.meta) as ResultMeta;
            return indexedFields(meta).map((entry) => [entry, meta.task_id]);
          });
          if (rows.length > 0) this.stmt(this.sql.forgetFields).run({ rows: JSON.stringify(rows) });
        }
        this.stmt(this.sql.forget).run({ ids });
        this.stmt(this.sql.forgetEvents).run({ ids });
      })
      .immediate();
  }

  /** Deletes every expired row of both tables in one transaction. */
  deleteExpired(now: number): void {
    this.db
      .transaction(() => {
        for (const text of [
          this.sql.expireFields,
          this.sql.expireResults,
          this.sql.expireRevoked,
          this.sql.expireEvents,
        ]) {
          this.stmt(text).run({ now });
        }
        this.stmt(this.sql.expireCounts).run({ before: minuteOf(now) - COUNTS_KEPT_MINUTES });
      })
      .immediate();
  }

  /** Records revocations; returns one change per id, in order. */
  revoke(taskIds: readonly string[], terminate: boolean, expiresAt: number): RevokeChange[] {
    return this.db
      .transaction(() =>
        taskIds.map((taskId) => {
          const seq = this.bump('revoked');
          this.stmt(this.sql.upsertRevoked).run({
            taskId,
            terminate: terminate ? 1 : 0,
            expiresAt,
            seq,
          });
          return { taskId, terminate, seq };
        }),
      )
      .immediate();
  }

  /** Appends task events (task-history.ts) in one statement, in order. */
  appendEvents(rows: ReadonlyArray<[taskId: string, event: string, expiresAt: number]>): void {
    if (rows.length > 0) this.stmt(this.sql.appendEvents).run({ rows: JSON.stringify(rows) });
  }

  /** A task's live events as stored, newest first, at most `limit`. */
  readEvents(taskId: string, now: number, limit: number): string[] {
    const rows = this.stmt(this.sql.readEvents).all({ taskId, now, limit }) as Array<{
      event: string;
    }>;
    return rows.map((row) => row.event);
  }

  /** Deletes the events of the ids. */
  forgetEvents(taskIds: readonly string[]): void {
    this.stmt(this.sql.forgetEvents).run({ ids: JSON.stringify(taskIds) });
  }

  isRevoked(taskId: string, now: number): boolean {
    return this.stmt(this.sql.isRevoked).get({ taskId, now }) !== undefined;
  }

  revokedSince(after: number, upto: number): RevokeChange[] {
    return this.revokedRows(after, upto).map((row) => ({
      taskId: row.task_id,
      terminate: row.terminate !== 0,
      seq: row.seq,
    }));
  }

  /** The revocations with a sequence in (after, upto] and when each expires (0 = never). */
  revocationsSince(after: number, upto: number): Array<{ taskId: string; expiresAt: number }> {
    return this.revokedRows(after, upto).map((row) => ({
      taskId: row.task_id,
      expiresAt: row.expires_at,
    }));
  }

  private revokedRows(after: number, upto: number) {
    return this.stmt(this.sql.revokedSince).all({ after, upto }) as Array<{
      task_id: string;
      terminate: number;
      expires_at: number;
      seq: number;
    }>;
  }
}
