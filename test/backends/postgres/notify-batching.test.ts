/**
 * The PostgreSQL result backend sends one NOTIFY per batch of result stores, not one per
 * task: counted on a LISTEN connection of the test's own, while a real worker process
 * stores the results of many tasks, and while one process stores many results in one turn.
 * Every waiter still gets its result.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { PostgresBackend } from '../../../src/backends/postgres/index.js';
import { batchPayloads } from '../../../src/backends/postgres/postgres-key-value-store.js';
import { killAll, startWorker } from '../../support/worker-process.js';
import { requireService } from '../../support/services.js';
import { testSchema } from '../../support/postgres.js';

const APP = 'test/worker/fixtures/pool-app.ts';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** LISTENs on the backend's channel and counts notifications, and the result stores in them. */
async function countNotifications(pg: ReturnType<typeof testSchema>) {
  const client = await pg.client();
  const counts = { notifications: 0, stores: 0 };
  client.on('notification', (note) => {
    counts.notifications += 1;
    const parsed = JSON.parse(note.payload ?? 'null') as unknown[];
    const entries = Array.isArray(parsed[0]) ? (parsed as unknown[][]) : [parsed];
    counts.stores += entries.filter((entry) =>
      String(entry[0]).includes('celery-task-meta-'),
    ).length;
  });
  await client.query(`LISTEN "${pg.schema}_kv"`);
  return counts;
}

describe('result stores notify per batch on PostgreSQL', () => {
  it('a worker storing 300 results sends far fewer NOTIFYs than results', async (ctx) => {
    await requireService(ctx, 'postgres');
    const pg = testSchema('notify_batch');
    const env = { CELERIAC_BROKER_URL: pg.url, CELERIAC_RESULT_BACKEND: pg.url };
    const client = new Celeriac({ broker: pg.url, backend: pg.url });
    cleanups.push(async () => {
      await client.close();
      await pg.drop();
    });
    await client.broker().then((broker) => broker.connect());
    const counts = await countNotifications(pg);
    const n = 300;
    // Queued before the worker starts, so it takes them in full batches.
    const results = await client.sendMany(
      Array.from({ length: n }, (_, i) => ({ task: 'pool.record', args: [`t${i}`] })),
    );
    await startWorker(APP, env, ['-c', '50']);
    const values = await Promise.all(results.map((result) => result.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: n }, (_, i) => `t${i}`));
    // Each task stores STARTED (the app tracks it) and SUCCESS: 600 stores.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counts.stores).toBe(2 * n);
    // One NOTIFY per store would be 600.
    expect(counts.notifications).toBeLessThan(n / 2);
  }, 120_000);

  it('stores of one turn share one NOTIFY, split only where NOTIFY’s 8000 bytes run out', async (ctx) => {
    await requireService(ctx, 'postgres');
    const pg = testSchema('notify_turn');
    const backend = new PostgresBackend(pg.url);
    cleanups.push(async () => {
      await backend.close();
      await pg.drop();
    });
    await backend.connect();
    const counts = await countNotifications(pg);
    const heard: string[] = [];
    const ids = Array.from({ length: 100 }, (_, i) => `task-${i}`);
    for (const id of ids)
      await backend.subscribe(id, (meta) =>
        heard.push(`${meta.task_id}:${JSON.stringify(meta.result)}`),
      );
    await Promise.all(
      ids.map((id) =>
        backend.store({
          task_id: id,
          status: 'SUCCESS',
          result: id.length,
          traceback: null,
          children: [],
          date_done: null,
        }),
      ),
    );
    const until = Date.now() + 5000;
    while (heard.length < ids.length && Date.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heard.sort()).toEqual(ids.map((id) => `${id}:${id.length}`).sort());
    expect(counts.stores).toBe(100);
    // About 150 bytes a store: two NOTIFYs at most.
    expect(counts.notifications).toBeLessThanOrEqual(2);
  });

  it('splits a batch where a NOTIFY would pass 8000 bytes', () => {
    const entry = JSON.stringify(['k', 'v'.repeat(3000)]);
    const payloads = batchPayloads([entry, entry, entry, entry, entry]);
    expect(payloads).toHaveLength(3);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    expect(payloads.flatMap((payload) => JSON.parse(payload) as unknown[])).toHaveLength(5);
  });
});
