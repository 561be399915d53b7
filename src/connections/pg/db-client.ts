/**
 * The PostgreSQL client pieces every Celeriac driver shares: the small structural type a
 * user's own client satisfies (`pg.Client`, `pg.PoolClient`, `pg.Pool`, or what Kysely and
 * Drizzle expose underneath), and a pool opened on a location with an error handler, so a
 * connection the server drops is replaced rather than crashing the process.
 * Loads `pg` only when a pool is opened. Must never log a password.
 */
import type { Pool, PoolConfig } from 'pg';
import type { PostgresLocation } from './pg-url.js';

/** The result shape Celeriac reads: rows and, for writes, how many rows changed. */
export interface QueryResultLike<TRow> {
  rows: TRow[];
  rowCount: number | null;
}

/**
 * Anything that runs a parameterised query: `pg.Client`, `pg.PoolClient` (inside the
 * user's open transaction), `pg.Pool`. Celeriac never needs the client's own typings.
 */
export interface Queryable {
  query<TRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResultLike<TRow>>;
}

export interface OpenPoolOptions {
  /** At most this many connections. @default 10 */
  max?: number | undefined;
  /** Told about a pooled connection that failed while idle (the pool replaces it). */
  onError?: ((error: Error) => void) | undefined;
  /**
   * Connections with `synchronous_commit = off`: a commit returns before its WAL reaches
   * the disk. Only for writes whose loss in a database crash is redone anyway (acks,
   * claims, lease renewals, result stores, which WAL order keeps ahead of the ack that
   * follows them): never for a publish, which must be durable when it resolves.
   */
  asyncCommit?: boolean | undefined;
}

export async function openPool(
  location: PostgresLocation,
  options: OpenPoolOptions = {},
): Promise<Pool> {
  const { default: pg } = await import('pg');
  const config: PoolConfig = {
    connectionString: location.connectionString,
    max: options.max ?? 10,
    idleTimeoutMillis: 30_000,
  };
  if (options.asyncCommit) config.options = '-c synchronous_commit=off';
  const pool = new pg.Pool(config);
  pool.on('error', (error) => options.onError?.(error));
  return pool;
}

/** Runs `fn` in one transaction on one pooled connection; rolls back when it throws. */
export async function inTransaction<T>(
  pool: Pool,
  fn: (client: Queryable) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * True for errors that mean the connection went away (the server restarted, the backend
 * was terminated, the network dropped) rather than a statement failing: worth one retry
 * on a fresh pooled connection for statements that are safe to repeat.
 */
export function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  if (['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(code))
    return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code)) return true;
  return /Connection terminated|connection ended|Client has encountered a connection error|not queryable/i.test(
    e?.message ?? '',
  );
}

/** Runs `fn`, and again after a short pause (at most `attempts` times) while it fails on a lost connection. */
export async function retryOnConnectionLoss<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isConnectionError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
