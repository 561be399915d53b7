/**
 * Versioned migrations for Celeriac's tables in one schema. Each component (the broker's
 * tables, the result backend's) lists its steps in order; step n is applied once, in one
 * transaction together with the row recording it in `<schema>.celeriac_migrations`.
 * Several processes starting at once are safe: the whole run holds a transaction-level
 * advisory lock keyed by the schema, so one applies and the others then find the steps
 * done. A database migrated by a newer Celeriac (a version above the newest known step)
 * is refused with a clear error rather than written to by old code.
 * Must never run a step twice or outside the lock.
 */
import type { Pool } from 'pg';
import { CeleriacError } from '../../errors.js';
import { inTransaction } from './db-client.js';
import { qualified, quoteIdent } from './pg-url.js';

/** One class of advisory locks for Celeriac's migrations (the second key is the schema's hash). */
const MIGRATION_LOCK_CLASS = 0x43656c65; // 'Cele'

export class SchemaVersionError extends CeleriacError {}

/** The steps of one component; each step is one or more statements. */
export interface MigrationSet {
  /** E.g. `broker:` + table prefix: versions are counted per component. */
  component: string;
  steps: ReadonlyArray<readonly string[]>;
}

/** Applies the steps not yet applied; returns the versions it applied (empty when up to date). */
export async function migrate(pool: Pool, schema: string, set: MigrationSet): Promise<number[]> {
  const table = qualified(schema, 'celeriac_migrations');
  return inTransaction(pool, async (db) => {
    await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
      MIGRATION_LOCK_CLASS,
      schema,
    ]);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${table} (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version)
    )`);
    const { rows } = await db.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${table} WHERE component = $1`,
      [set.component],
    );
    const current = rows[0]?.v ?? 0;
    if (current > set.steps.length)
      throw new SchemaVersionError(
        `The "${set.component}" tables in schema "${schema}" are at version ${current}, newer than this ` +
          `Celeriac knows (${set.steps.length}): upgrade celeriac in this process, or use another ?schema=.`,
      );
    const applied: number[] = [];
    for (let version = current + 1; version <= set.steps.length; version++) {
      for (const statement of set.steps[version - 1] ?? []) await db.query(statement);
      await db.query(`INSERT INTO ${table} (component, version) VALUES ($1, $2)`, [
        set.component,
        version,
      ]);
      applied.push(version);
    }
    return applied;
  });
}
