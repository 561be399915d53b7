/**
 * `npm run bench -- postgres`: Celeriac against pg-boss 12 and graphile-worker 0.18 on the
 * same PostgreSQL in one run, each in a schema of its own (dropped afterwards), through
 * each one's public API and one worker process each. Every measure runs for every side
 * back to back, in rotating order, `rounds` times; the best round of each side counts, so
 * a burst of load from elsewhere on the machine does not decide a ratio. Must never touch
 * a schema it did not create.
 */
import pg from 'pg';
import { envCount, fmt } from '../support.js';
import { CeleriacPgSide } from './celeriac-side.js';
import type { PgContender } from './contender.js';
import { GraphileSide } from './graphile-side.js';
import { PgBossSide } from './pgboss-side.js';

export interface PostgresBenchOptions {
  /** @default CELERIAC_BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/test */
  url?: string;
  /** Pre-enqueued no-ops per throughput run. @default 10 000 */
  tasks?: number;
  /** Awaited enqueues timed one at a time. @default 2 000 */
  sequential?: number;
  /** Rounds per measure; the best of each side counts. @default 2 */
  rounds?: number;
}

const MEASURES = [
  ['enqueueSequential', 'enqueue, one awaited call at a time'],
  ['enqueueBulk', 'enqueue, bulk in batches of 1,000'],
  ['c1', 'no-op tasks, one worker process, concurrency 1'],
  ['c10', 'no-op tasks, one worker process, concurrency 10'],
  ['c100', 'no-op tasks, one worker process, concurrency 100'],
] as const;

type Figures = Record<(typeof MEASURES)[number][0], number>;

export async function runPostgresBench(
  options: PostgresBenchOptions = {},
): Promise<Record<string, Figures> | undefined> {
  const url =
    options.url ?? process.env.CELERIAC_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: url });
  try {
    await admin.connect();
  } catch (error) {
    process.stdout.write(
      `\nPostgreSQL (${url}): not reachable (${(error as Error).message}); skipped.\n`,
    );
    return undefined;
  }
  const tasks =
    options.tasks ??
    envCount('CELERIAC_BENCH_PG_TASKS', Math.min(envCount('BENCH_TASKS', 10_000), 10_000));
  const sequential = options.sequential ?? Math.min(envCount('BENCH_SEQUENTIAL', 2_000), 2_000);
  const rounds = options.rounds ?? envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 2));
  const run = `${process.pid}_${Date.now()}`;
  const schemas = {
    celeriac: `celeriac_bench_${run}`,
    pgboss: `pgboss_bench_${run}`,
    graphile: `graphile_bench_${run}`,
  };
  const withSchema = (schema: string) => `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
  const sides: PgContender[] = [
    new CeleriacPgSide(withSchema(schemas.celeriac)),
    new PgBossSide(url, schemas.pgboss),
    new GraphileSide(url, schemas.graphile),
  ];
  process.stdout.write(
    `\nPostgreSQL (${url.replace(/:[^:@/]*@/, ':***@')}): Celeriac vs pg-boss 12 vs graphile-worker 0.18, same database, ` +
      `one worker process each, ${tasks} no-ops per run, best of ${rounds} rotating rounds\n`,
  );
  try {
    for (const side of sides) await side.setup();
    const best = sides.map(() => ({}) as Figures);
    const measure = async (key: keyof Figures, fn: (side: PgContender) => Promise<number>) => {
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < sides.length; k++) {
          const index = (k + round) % sides.length;
          if (process.env.CELERIAC_BENCH_VERBOSE)
            process.stderr.write(`  .. ${sides[index]!.name} ${key}\n`);
          const value = await fn(sides[index]!);
          if (process.env.CELERIAC_BENCH_VERBOSE) process.stderr.write(`     ${fmt(value)}/s\n`);
          best[index]![key] = Math.max(best[index]![key] ?? 0, value);
        }
      }
    };
    await measure('enqueueSequential', (side) => side.enqueueSequential(sequential));
    await measure('enqueueBulk', (side) => side.enqueueBulk(tasks));
    await measure('c1', (side) => side.throughput(Math.min(tasks, 3000), 1));
    await measure('c10', (side) => side.throughput(tasks, 10));
    await measure('c100', (side) => side.throughput(tasks, 100));
    const out = (text: string) => process.stdout.write(`${text}\n`);
    out(
      `  ${'measure'.padEnd(50)} ${sides.map((s) => s.name.padStart(16)).join(' ')}  ${'vs pg-boss'.padStart(10)} ${'vs graphile'.padStart(11)}`,
    );
    for (const [key, label] of MEASURES) {
      const [ours, boss, graphile] = best.map((figures) => figures[key]);
      out(
        `  ${label.padEnd(50)} ${best.map((figures) => `${fmt(figures[key])}/s`.padStart(16)).join(' ')}  ` +
          `${`${(ours! / boss!).toFixed(2)}x`.padStart(10)} ${`${(ours! / graphile!).toFixed(2)}x`.padStart(11)}`,
      );
    }
    return Object.fromEntries(sides.map((side, i) => [side.name, best[i]!]));
  } finally {
    for (const side of sides) await side.teardown().catch(() => undefined);
    for (const schema of Object.values(schemas))
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}
