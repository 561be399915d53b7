/**
 * `npx tsx bench/postgres/cost.ts`: the load-proof side of the PostgreSQL benchmark. Wall
 * clock rates mean little on a shared machine, so this counts, per task, what each side
 * spends: client round trips (every query its pg clients send), client CPU
 * (`process.cpuUsage`) and the CPU of its own server backends (utime + stime of each backend
 * process, found by an application_name of this run, read from /proc: the server must run
 * on this machine, else that column says n/a). Bulk enqueue in batches of 1,000, then
 * processing of no-ops in this process at concurrency 1 and 10 (each after one unmeasured
 * warm-up enqueue), for Celeriac
 * (results kept in the PostgreSQL backend), pg-boss 12 (completed jobs kept) and
 * graphile-worker 0.18. Each side in a schema of its own, dropped afterwards.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { Logger, makeWorkerUtils, run as runGraphile } from 'graphile-worker';
import { Celeriac, Worker } from '../../src/index.js';
import type { Logger as CeleriacLogger } from '../../src/logger.js';

const url = process.env.CELERIAC_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.CELERIAC_BENCH_PG_TASKS ?? 4000);
const tag = `cost_${process.pid}`;

let queries = 0;
/** Queries by kind (the statement's first words), while `byKind` is set: COST_BREAKDOWN=1. */
let byKind: Map<string, number> | undefined;
const breakdown = process.env.COST_BREAKDOWN === '1';
function kindOf(query: unknown): string {
  const text =
    typeof query === 'string' ? query : ((query as { text?: string } | null)?.text ?? '?');
  return text.replace(/\s+/g, ' ').trim().slice(0, 60);
}
// Counts every query any pg client of this process sends (pools are made of Clients).
const prototype = pg.Client.prototype as unknown as Record<
  'query',
  (...args: unknown[]) => unknown
>;
const query = prototype.query;
prototype.query = function counted(this: unknown, ...args: unknown[]) {
  queries += 1;
  if (byKind) {
    const kind = kindOf(args[0]);
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  return query.apply(this, args);
};

const admin = new pg.Client({ connectionString: url });

/** CPU ms of every live server backend whose application_name is `name`. */
async function serverCpu(name: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [name],
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * 10); // clock ticks of 10 ms
    } catch {
      return new Map([[-1, Number.NaN]]); // not on this machine
    }
  }
  return cpu;
}

interface Cost {
  queries: number;
  clientUs: number;
  serverUs: number;
}

async function measure(name: string, count: number, fn: () => Promise<void>): Promise<Cost> {
  const before = await serverCpu(name);
  const q0 = queries;
  if (breakdown) byKind = new Map();
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  const q = queries - q0;
  if (byKind) {
    process.stdout.write(`  ${name} (${count} tasks), queries per task by kind:\n`);
    for (const [kind, n] of [...byKind].sort((a, b) => b[1] - a[1]))
      process.stdout.write(`    ${(n / count).toFixed(3).padStart(7)}  ${kind}\n`);
    byKind = undefined;
  }
  const after = await serverCpu(name);
  let server = 0;
  for (const [pid, ms] of after) server += ms - (before.get(pid) ?? 0);
  return {
    queries: q / count,
    clientUs: (c.user + c.system) / count,
    serverUs: (server * 1000) / count,
  };
}

const quiet: CeleriacLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quiet,
} as unknown as CeleriacLogger;

/** Counts processed tasks; `finished` resolves once `target` are done. */
function countTo(target: number): { add(n: number): void; finished: Promise<void> } {
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  return {
    add(n) {
      done += n;
      if (done >= target) finish();
    },
    finished,
  };
}

function batches(count: number): number[] {
  return Array.from({ length: Math.ceil(count / 1000) }, (_, i) =>
    Math.min(1000, count - i * 1000),
  );
}

async function celeriac(schema: string): Promise<Record<string, Cost>> {
  const app = `${tag}_celeriac`;
  const appUrl = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}&application_name=${app}`;
  const costs: Record<string, Cost> = {};
  const client = new Celeriac({ broker: appUrl, backend: appUrl });
  const noop = client.signature<[], null>('bench.noop');
  await noop.delay();
  await (await client.broker()).purge('celery');
  const enqueue = async () => {
    for (const size of batches(N))
      await client.sendMany(Array.from({ length: size }, () => ({ task: noop, args: [] })));
  };
  await enqueue(); // warm-up: each side's enqueue runs once before it is measured
  costs.enqueueBulk = await measure(app, N, enqueue);
  for (const concurrency of [1, 10]) {
    const workerApp = new Celeriac({ broker: appUrl, backend: appUrl });
    const counter = countTo(N);
    workerApp.task('bench.noop', () => {
      counter.add(1);
      return null;
    });
    if (concurrency > 1) await enqueue();
    const worker = new Worker(workerApp, { concurrency, logger: quiet });
    costs[`c${concurrency}`] = await measure(app, N, async () => {
      await worker.start();
      await counter.finished;
    });
    await worker.stop();
    await workerApp.close();
  }
  await client.close();
  return costs;
}

async function pgBoss(schema: string): Promise<Record<string, Cost>> {
  const app = `${tag}_pgboss`;
  const costs: Record<string, Cost> = {};
  const boss = new PgBoss({ connectionString: url, schema, application_name: app });
  boss.on('error', (error: Error) => process.stderr.write(`pg-boss: ${error.message}\n`));
  await boss.start();
  await boss.createQueue('bench');
  const enqueue = async () => {
    for (const size of batches(N))
      await boss.insert(
        'bench',
        Array.from({ length: size }, () => ({ data: {} })),
      );
  };
  await enqueue(); // warm-up
  costs.enqueueBulk = await measure(app, N, enqueue);
  for (const concurrency of [1, 10]) {
    if (concurrency > 1) await enqueue();
    const counter = countTo(N);
    costs[`c${concurrency}`] = await measure(app, N, async () => {
      await boss.work(
        'bench',
        {
          localConcurrency: concurrency,
          batchSize: 10,
          burstWhenBatchFull: true,
          pollingIntervalSeconds: 0.5,
        },
        (jobs) => {
          counter.add(jobs.length);
          return Promise.resolve(null);
        },
      );
      await counter.finished;
    });
    await boss.offWork('bench');
  }
  await boss.stop({ graceful: false });
  return costs;
}

async function graphile(schema: string): Promise<Record<string, Cost>> {
  const app = `${tag}_graphile`;
  const costs: Record<string, Cost> = {};
  const pool = new pg.Pool({ connectionString: url, max: 12, application_name: app });
  pool.on('error', (error) => process.stderr.write(`graphile pool: ${error.message}\n`));
  const utils = await makeWorkerUtils({ pgPool: pool, schema });
  await utils.migrate();
  const enqueue = async () => {
    for (const size of batches(N))
      await utils.addJobs(
        Array.from({ length: size }, () => ({ identifier: 'noop', payload: {} })),
      );
  };
  await enqueue(); // warm-up
  costs.enqueueBulk = await measure(app, N, enqueue);
  for (const concurrency of [1, 10]) {
    if (concurrency > 1) await enqueue();
    const counter = countTo(N);
    let runner: Awaited<ReturnType<typeof runGraphile>> | undefined;
    costs[`c${concurrency}`] = await measure(app, N, async () => {
      runner = await runGraphile({
        pgPool: pool,
        schema,
        concurrency,
        noHandleSignals: true,
        logger: new Logger(() => () => undefined),
        taskList: {
          noop: () => {
            counter.add(1);
            return Promise.resolve();
          },
        },
      });
      await counter.finished;
    });
    await runner?.stop();
  }
  await utils.release();
  await pool.end();
  return costs;
}

await admin.connect();
const schemas = { celeriac: `${tag}_c`, pgboss: `${tag}_b`, graphile: `${tag}_g` };
try {
  const results: Array<[string, Record<string, Cost>]> = [
    ['Celeriac', await celeriac(schemas.celeriac)],
    ['pg-boss', await pgBoss(schemas.pgboss)],
    ['graphile-worker', await graphile(schemas.graphile)],
  ];
  process.stdout.write(
    `\nPostgreSQL cost per task (${N} no-ops; queries = client round trips; CPU in µs)\n`,
  );
  process.stdout.write(
    `  ${'measure'.padEnd(14)} ${'side'.padEnd(16)} ${'queries'.padStart(8)} ${'client'.padStart(8)} ${'server'.padStart(8)} ${'total'.padStart(8)}\n`,
  );
  for (const measureName of ['enqueueBulk', 'c1', 'c10'])
    for (const [side, costs] of results) {
      const c = costs[measureName]!;
      const server = Number.isNaN(c.serverUs) ? 'n/a' : c.serverUs.toFixed(0);
      const total = Number.isNaN(c.serverUs) ? 'n/a' : (c.clientUs + c.serverUs).toFixed(0);
      process.stdout.write(
        `  ${measureName.padEnd(14)} ${side.padEnd(16)} ${c.queries.toFixed(2).padStart(8)} ${c.clientUs.toFixed(0).padStart(8)} ${server.padStart(8)} ${total.padStart(8)}\n`,
      );
    }
} finally {
  for (const schema of Object.values(schemas))
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await admin.end();
}
process.exit(0);
