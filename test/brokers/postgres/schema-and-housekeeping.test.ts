/**
 * What the PostgreSQL driver does to the database itself: tables created in the schema the
 * URL names, by versioned migrations that several processes may run at once (each step
 * applied once, in order, under an advisory lock, also when upgrading an older schema); a schema migrated by a newer Celeriac refused;
 * dead letters and expired results deleted on their retention, in batches.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidPostgresUrlError,
  PostgresBroker,
  SchemaVersionError,
} from '../../../src/brokers/postgres/index.js';
import { PostgresBackend } from '../../../src/backends/postgres/index.js';
import { makeMeta } from '../../../src/testing/backend-conformance.js';
import { Pool } from 'pg';
import { brokerSql } from '../../../src/brokers/postgres/broker-sql.js';
import { migrate } from '../../../src/connections/pg/migrations.js';
import { requireService } from '../../support/services.js';
import { PG_BASE_URL, testSchema, type TestSchema } from '../../support/postgres.js';

let pg: TestSchema | undefined;
const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const one of opened.splice(0)) await one.close();
  await pg?.drop();
  pg = undefined;
});

describe('PostgreSQL schema, migrations and housekeeping', () => {
  it('migrates once when seven instances connect at once, into the schema the URL names', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('migrate');
    const brokers = Array.from({ length: 5 }, () => new PostgresBroker(pg!.url));
    const backends = Array.from({ length: 2 }, () => new PostgresBackend(pg!.url));
    opened.push(...brokers, ...backends);
    await Promise.all([...brokers, ...backends].map((one) => one.connect()));
    const client = await pg.client();
    const { rows } = await client.query<{ component: string; version: number }>(
      `SELECT component, version FROM "${pg.schema}".celeriac_migrations ORDER BY component, version`,
    );
    expect(rows).toEqual([
      { component: 'backend:', version: 1 },
      { component: 'broker:', version: 1 },
      { component: 'broker:', version: 2 },
      { component: 'broker:', version: 3 },
    ]);
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [pg.schema],
    );
    expect(tables.rows.map((row) => row.table_name)).toEqual([
      'broadcasts',
      'celeriac_migrations',
      'dead_letters',
      'kv',
      'messages',
      'notices',
    ]);
  });

  it('upgrades a schema left at an older version in order, once, while four brokers start at once, keeping its messages', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('upgrade');
    const client = await pg.client();
    // The schema as the first release left it: step 1 only, one message waiting.
    const steps = brokerSql(pg.schema, '').migrations;
    const pool = new Pool({ connectionString: PG_BASE_URL, max: 1 });
    try {
      expect(await migrate(pool, pg.schema, { ...steps, steps: steps.steps.slice(0, 1) })).toEqual([
        1,
      ]);
    } finally {
      await pool.end();
    }
    await client.query(
      `INSERT INTO "${pg.schema}".messages (queue, created_at, envelope) VALUES ('old', 0, 'x')`,
    );
    const brokers = Array.from({ length: 4 }, () => new PostgresBroker(pg!.url));
    opened.push(...brokers);
    await Promise.all(brokers.map((one) => one.connect()));
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM "${pg.schema}".celeriac_migrations WHERE component = 'broker:' ORDER BY applied_at, version`,
    );
    expect(rows.map((row) => row.version)).toEqual([1, 2, 3]);
    const kept = await client.query<{ queue: string; expires_at: string }>(
      `SELECT queue, expires_at FROM "${pg.schema}".messages`,
    );
    expect(kept.rows).toEqual([{ queue: 'old', expires_at: '0' }]);
  });

  it('refuses a schema migrated by a newer Celeriac, and a schema name that is not an identifier', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('newer');
    const first = new PostgresBroker(pg.url);
    opened.push(first);
    await first.connect();
    const client = await pg.client();
    await client.query(
      `INSERT INTO "${pg.schema}".celeriac_migrations (component, version) VALUES ('broker:', 99)`,
    );
    const later = new PostgresBroker(pg.url);
    opened.push(later);
    await expect(later.connect()).rejects.toThrow(SchemaVersionError);
    expect(() => new PostgresBroker('postgres://127.0.0.1/test?schema=a;drop')).toThrow(
      InvalidPostgresUrlError,
    );
  });

  it('deletes dead letters past their retention in batches, keeping the recent ones', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('retain');
    const broker = new PostgresBroker(pg.url, { deadLetterRetentionMs: 60_000 });
    opened.push(broker);
    await broker.connect();
    const client = await pg.client();
    const now = Date.now();
    await client.query(
      `INSERT INTO "${pg.schema}".dead_letters (id, queue, priority, deliveries, created_at, envelope, reason, dead_at)
       SELECT g, 'q', 0, 1, $1::bigint, '{}', 'test', CASE WHEN g <= 2500 THEN $1::bigint - 120000 ELSE $1::bigint END
       FROM generate_series(1, 2600) AS g`,
      [now],
    );
    expect(await broker.housekeeping(now)).toBe(2500);
    const left = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${pg.schema}".dead_letters`,
    );
    expect(left.rows[0]?.n).toBe(100);
  });

  it('hides expired results at once and deletes them on housekeeping', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('expire');
    const backend = new PostgresBackend(pg.url);
    opened.push(backend);
    await backend.connect();
    await backend.store(makeMeta('short', 'SUCCESS', 1), { expiresMs: 50 });
    await backend.store(makeMeta('long', 'SUCCESS', 2), { expiresMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await backend.get('short')).toBeUndefined();
    expect((await backend.get('long'))?.result).toBe(2);
    expect(await backend.housekeeping()).toBe(1);
    const client = await pg.client();
    const { rows } = await client.query<{ key: string }>(`SELECT key FROM "${pg.schema}".kv`);
    expect(rows.map((row) => row.key)).toEqual(['celery-task-meta-long']);
  });
});
