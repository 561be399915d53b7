/**
 * PostgreSQL for tests: each test gets a schema of its own (random name) in database
 * `test`, and drops only that schema afterwards; never a shared one. Connections the code
 * under test opens carry an application_name of the test's own, so a fault test can
 * terminate exactly those backends and no other engineer's.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_BASE_URL =
  process.env.CELERIAC_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  /** The schema's name: `celeriac_test_<random>`. */
  schema: string;
  /** A URL for Celeriac naming the schema and the test's application_name. */
  url: string;
  /** The application_name every connection opened through `url` carries. */
  applicationName: string;
  /** A plain client on the same database (not through `url`), connected. */
  client(): Promise<pg.Client>;
  /** Drops the schema (and only it), closing the clients `client()` opened. */
  drop(): Promise<void>;
}

export function testSchema(label = 't'): TestSchema {
  const schema = `celeriac_test_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
  const applicationName = `celeriac-${schema}`.slice(0, 63);
  const url = `${PG_BASE_URL}?schema=${schema}&application_name=${applicationName}`;
  const clients: pg.Client[] = [];
  return {
    schema,
    url,
    applicationName,
    async client() {
      const client = new pg.Client({ connectionString: PG_BASE_URL });
      await client.connect();
      clients.push(client);
      return client;
    },
    async drop() {
      for (const client of clients) await client.end().catch(() => undefined);
      const admin = new pg.Client({ connectionString: PG_BASE_URL });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** Terminates every backend connection whose application_name is `applicationName`; returns how many. */
export async function terminateBackends(applicationName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: PG_BASE_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
       FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [applicationName],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await admin.end();
  }
}
