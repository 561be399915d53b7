/**
 * The worker registry in SQLite: one row per worker with its heartbeat's expiry, in the
 * backend's file under its prefix; expired rows are ignored and pruned. Paused queues
 * are rows of a second table, kept until resumed.
 */
import {
  ensureSchema,
  openDatabase,
  tableName,
  type DbHandle,
} from '../../connections/sqlite/database.js';
import type { SqliteLocation } from '../../connections/sqlite/sqlite-url.js';
import type { WorkerInfo, WorkerRegistry } from '../worker-registry.js';

export class SqliteWorkerRegistry implements WorkerRegistry {
  private handle: DbHandle | undefined;
  private readonly table: string;
  private readonly pausedTable: string;

  constructor(
    private readonly location: SqliteLocation,
    prefix: string,
  ) {
    this.table = tableName(prefix, 'workers');
    this.pausedTable = tableName(prefix, 'paused_queues');
  }

  private open(): DbHandle {
    if (this.handle) return this.handle;
    const handle = openDatabase(this.location);
    // hostname, info (WorkerInfo JSON), expires_at (unix ms)
    ensureSchema(handle, [
      `CREATE TABLE IF NOT EXISTS ${this.table} (hostname TEXT PRIMARY KEY, info TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${this.pausedTable} (queue TEXT PRIMARY KEY)`,
    ]);
    this.handle = handle;
    return handle;
  }

  heartbeat(info: WorkerInfo, ttlMs: number): Promise<void> {
    this.open()
      .db.prepare(
        `INSERT INTO ${this.table} (hostname, info, expires_at) VALUES (@hostname, @info, @expires)
         ON CONFLICT (hostname) DO UPDATE SET info = @info, expires_at = @expires`,
      )
      .run({ hostname: info.hostname, info: JSON.stringify(info), expires: info.seenAt + ttlMs });
    return Promise.resolve();
  }

  leave(hostname: string): Promise<void> {
    this.open().db.prepare(`DELETE FROM ${this.table} WHERE hostname = ?`).run(hostname);
    return Promise.resolve();
  }

  online(now: number): Promise<WorkerInfo[]> {
    const { db } = this.open();
    db.prepare(`DELETE FROM ${this.table} WHERE expires_at <= ?`).run(now);
    const rows = db.prepare(`SELECT info FROM ${this.table} ORDER BY hostname`).all() as Array<{
      info: string;
    }>;
    return Promise.resolve(rows.map((row) => JSON.parse(row.info) as WorkerInfo));
  }

  pausedQueues(): Promise<string[]> {
    const rows = this.open()
      .db.prepare(`SELECT queue FROM ${this.pausedTable} ORDER BY queue`)
      .all() as Array<{ queue: string }>;
    return Promise.resolve(rows.map((row) => row.queue));
  }

  setQueuePaused(queue: string, paused: boolean): Promise<void> {
    const { db } = this.open();
    if (paused)
      db.prepare(`INSERT INTO ${this.pausedTable} (queue) VALUES (?) ON CONFLICT DO NOTHING`).run(
        queue,
      );
    else db.prepare(`DELETE FROM ${this.pausedTable} WHERE queue = ?`).run(queue);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.handle?.release();
    this.handle = undefined;
    return Promise.resolve();
  }
}
