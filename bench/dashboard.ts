/**
 * `npm run bench -- dashboard`: how long the dashboard's tasks page takes with 100,000
 * stored tasks, on SQLite and on Redis (when reachable): the handler answering a
 * Request (rendering included, no HTTP), for the first page, a state filter, a state and
 * name filter (and one that matches nothing), an argument filter (`args.customerId = 42`),
 * a page deep in the cursor chain, and the overview (cards and chart from the stored
 * counters). The tasks are written straight into the result backend as a worker with
 * `resultExtended` writes them (10% FAILURE). Median and p95 of 15 requests each; on a
 * shared machine only the figures of one run against each other mean anything.
 * Also the cost of the dashboard's index on the store path, load-proof: this process's
 * CPU time per store (process.cpuUsage) with `resultExtended` off and on, and on Redis the
 * server's time per store (INFO commandstats). BENCH_DASHBOARD_STORE_ONLY=1 measures only
 * these.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { deletePrefix, openBenchRedis } from './redis/admin.js';
import { Celeriac } from '../src/index.js';
import { buildResultMeta } from '../src/protocol/result-meta.js';
import { createDashboard } from '../src/web/dashboard/index.js';
import { fmt, percentile, row } from './support.js';

const TASKS = Number(process.env.CELERIAC_BENCH_DASHBOARD_TASKS ?? 100_000);
const RUNS = 15;

async function fill(app: Celeriac): Promise<void> {
  const backend = await app.resultBackend();
  const names = ['emails.send', 'orders.ship', 'reports.build', 'images.resize'];
  for (let start = 0; start < TASKS; start += 2000) {
    const batch = [];
    for (let i = start; i < Math.min(TASKS, start + 2000); i++) {
      batch.push(
        backend.store(
          buildResultMeta({
            taskId: randomUUID(),
            status: i % 10 === 0 ? 'FAILURE' : 'SUCCESS',
            result: i % 10 === 0 ? { exc_type: 'ValueError', exc_message: ['bad'] } : { ok: i },
            extended: {
              name: names[i % names.length]!,
              args: [{ customerId: i % 5000 }],
              kwargs: {},
              worker: `w${i % 4}@bench`,
              retries: 0,
              queue: 'celery',
            },
          }),
        ),
      );
    }
    await Promise.all(batch);
  }
}

async function measure(app: Celeriac, label: string): Promise<void> {
  const dashboard = createDashboard(app, { readOnly: true });
  const time = async (search: string, page = '/dashboard/tasks', expect = 'task-rows') => {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const response = await dashboard(new Request(`http://bench${page}${search}`));
      const body = await response!.text();
      times.push(performance.now() - started);
      if (response!.status !== 200 || !body.includes(expect))
        throw new Error(`${page}${search}: ${response!.status}`);
    }
    times.sort((a, b) => a - b);
    return `${fmt(percentile(times, 50))} / ${fmt(percentile(times, 95))} ms`;
  };
  // A cursor 40 pages in (2,000 tasks deep).
  const listing = (await app.resultBackend()).taskListing!();
  let cursor: string | undefined;
  for (let i = 0; i < 40; i++)
    cursor = (await listing.list({ limit: 50, ...(cursor ? { cursor } : {}) })).next;
  process.stdout.write(
    `\ndashboard tasks page on ${label}, ${fmt(TASKS)} stored tasks (median / p95 of ${RUNS})\n`,
  );
  row('first page', await time(''));
  row('state=FAILURE', await time('?state=FAILURE'));
  row('state=FAILURE&name=reports.build', await time('?state=FAILURE&name=reports.build'));
  // FAILURE only falls on even indexes, orders.ship on odd ones: nothing matches, every
  // stored task is read (the worst case of a filter no index answers).
  row('state=FAILURE&name=orders.ship (no match)', await time('?state=FAILURE&name=orders.ship'));
  row(
    'field args.customerId = 42',
    await time(`?field=${encodeURIComponent('args.customerId = 42')}`),
  );
  row('page 41 (cursor)', await time(`?cursor=${encodeURIComponent(cursor ?? '')}`));
  row('overview (counters)', await time('', '/dashboard', 'Finished per hour'));
}

/** Total usec of every command Redis ran so far (INFO commandstats). */
async function redisUsec(admin: Redis | undefined): Promise<number> {
  if (!admin) return 0;
  let usec = 0;
  for (const match of String(await admin.info('commandstats')).matchAll(/usec=(\d+)/g))
    usec += Number(match[1]);
  return usec;
}

/**
 * CPU µs of this process per store of 10,000 metas, with resultExtended off and on; with
 * `admin` (Redis), also Redis's own time per store (commandstats usec: what the index
 * script costs the server; exact only on a Redis no one else uses).
 */
async function storeCost(
  url: (name: string) => string,
  label: string,
  admin?: Redis,
): Promise<void> {
  const costs: string[] = [];
  const server: string[] = [];
  for (const resultExtended of [false, true]) {
    const app = new Celeriac({
      broker: url(`cost-${resultExtended}`),
      backend: url(`cost-${resultExtended}`),
      keyPrefix: `celeriac-bench-dashboard:${randomUUID()}:`,
      resultExtended,
    });
    const backend = await app.resultBackend();
    const metas = Array.from({ length: 10_000 }, (_, i) =>
      buildResultMeta({
        taskId: randomUUID(),
        status: 'SUCCESS',
        result: { ok: i },
        extended: {
          name: 'emails.send',
          args: [{ customerId: i % 5000 }],
          kwargs: {},
          worker: 'w1@bench',
          retries: 0,
          queue: 'celery',
        },
      }),
    );
    await backend.store(metas[0]!); // connected and the scripts loaded before measuring
    const usecBefore = await redisUsec(admin);
    const started = process.cpuUsage();
    for (let i = 0; i < metas.length; i += 100)
      await Promise.all(metas.slice(i, i + 100).map((meta) => backend.store(meta)));
    const used = process.cpuUsage(started);
    costs.push(`${fmt((used.user + used.system) / metas.length)} µs`);
    if (admin) server.push(`${fmt(((await redisUsec(admin)) - usecBefore) / metas.length)} µs`);
    await cleanup(app);
    await app.close();
  }
  row(`${label}: CPU per store, resultExtended off / on`, costs.join(' / '));
  if (admin)
    row(
      `${label}: Redis time per store, resultExtended off / on`,
      server.join(' / '),
      `(load ${os.loadavg()[0]!.toFixed(1)})`,
    );
}

/** Deletes what a bench app stored on Redis (only its own prefix); SQLite files go with their dir. */
async function cleanup(app: Celeriac): Promise<void> {
  const prefix = app.config.keyPrefix;
  const backend = await app.resultBackend();
  if (backend.kind !== 'redis' || !prefix) return;
  const probe = new Redis(process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  await deletePrefix(probe, prefix);
  probe.disconnect();
}

/** BENCH_DASHBOARD_STORE_ONLY=1: only the store-path costs (no 100,000-task fill). */
const STORE_ONLY = process.env.BENCH_DASHBOARD_STORE_ONLY === '1';

export async function runDashboardBench(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-bench-dashboard-'));
  const sqlite = new Celeriac({
    broker: `sqlite://${path.join(dir, 'bench.db')}`,
    resultExtended: true,
  });
  try {
    if (!STORE_ONLY) {
      const started = performance.now();
      await fill(sqlite);
      process.stdout.write(
        `\n(SQLite: ${fmt(TASKS)} tasks stored in ${fmt((performance.now() - started) / 1000)} s)`,
      );
      await measure(sqlite, 'SQLite');
    }
    await storeCost((name) => `sqlite://${path.join(dir, `${name}.db`)}`, 'SQLite');
  } finally {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const url = process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = await openBenchRedis(url, 'dashboard on Redis');
  if (!probe) return;
  const keyPrefix = `celeriac-bench-dashboard:${randomUUID()}:`;
  const redis = new Celeriac({ broker: url, backend: url, keyPrefix, resultExtended: true });
  try {
    if (!STORE_ONLY) {
      const started = performance.now();
      await fill(redis);
      process.stdout.write(
        `\n(Redis: ${fmt(TASKS)} tasks stored in ${fmt((performance.now() - started) / 1000)} s)`,
      );
      await measure(redis, 'Redis');
    }
    await storeCost(() => url, 'Redis', probe);
  } finally {
    await redis.close();
    await deletePrefix(probe, keyPrefix); // only this run's keys
    probe.disconnect();
  }
}
