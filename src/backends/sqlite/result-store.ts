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

  constructor(handle: DbHandle, prefix: string) {
    this.db = handle.db;
    this.stmt = statementCache(this.db);
    this.sql = backendSql(prefix);
    ensureSchema(handle, this.sql.schema);
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
    return this.db
      .transaction(() =>
        items.map(({ meta, expiresAt }) => {
          const seq = this.bump('results');
          this.stmt(this.sql.upsertResult).run({
            taskId: meta.task_id,
            meta: JSON.stringify(meta),
            expiresAt,
            seq,
          });
          return seq;
        }),
      )
      .immediate();
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

  forget(taskIds: readonly string[]): void {
    this.stmt(this.sql.forget).run({ ids: JSON.stringify(taskIds) });
  }

  /** Deletes every expired row of both tables in one transaction. */
  deleteExpired(now: number): void {
    this.db
      .transaction(() => {
        for (const text of [this.sql.expireResults, this.sql.expireRevoked]) {
          this.stmt(text).run({ now });
        }
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

  isRevoked(taskId: string, now: number): boolean {
    return this.stmt(this.sql.isRevoked).get({ taskId, now }) !== undefined;
  }

  revokedSince(after: number, upto: number): RevokeChange[] {
    const rows = this.stmt(this.sql.revokedSince).all({ after, upto }) as Array<{
      task_id: string;
      terminate: number;
      seq: number;
    }>;
    return rows.map((row) => ({
      taskId: row.task_id,
      terminate: row.terminate !== 0,
      seq: row.seq,
    }));
  }
}
