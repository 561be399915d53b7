/**
 * `resultExtended`: a worker stores Celery's `result_extended` fields (name, args, kwargs,
 * worker, retries, queue) with each state, progress states included, and only when the
 * app asks; the task listing then finds the task by them. SQLite, in a temp dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';

async function appWith(test: TestContext, resultExtended: boolean) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-extended-'));
  const app = new Celeriac({ broker: `sqlite://${path.join(dir, 'x.db')}`, resultExtended });
  const ship = app.task(
    'shop.ship',
    async function (order: { customerId: number }, express: boolean) {
      await this.progress(1, 2);
      return { shipped: order.customerId, express };
    },
  );
  const worker = new Worker(app, {
    queues: ['orders'],
    hostname: 'w1@test',
    logger: createLineLogger({ level: 'silent' }),
  });
  await worker.start();
  test.onTestFinished(async () => {
    await worker.stop({ timeout: 5 });
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, ship };
}

describe('resultExtended', () => {
  it("stores the task's name, args, kwargs, worker, retries and queue with its states", async (test) => {
    const { app, ship } = await appWith(test, true);
    const result = await ship.applyAsync([{ customerId: 42 }, true], { queue: 'orders' });
    expect(await result.get({ timeout: 20 })).toEqual({ shipped: 42, express: true });
    const meta = await result.meta();
    expect(meta).toMatchObject({
      status: 'SUCCESS',
      name: 'shop.ship',
      args: [{ customerId: 42 }, true],
      kwargs: {},
      worker: 'w1@test',
      retries: 0,
      queue: 'orders',
      date_started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    });
    expect(Date.parse(meta.date_started!)).toBeLessThanOrEqual(Date.parse(meta.date_done!));
    const backend = await app.resultBackend();
    const page = await backend.taskListing!().list({
      names: ['shop.ship'],
      queue: 'orders',
      fields: [{ path: 'args.customerId', value: 42 }],
    });
    expect(page.tasks.map((task) => task.task_id)).toEqual([result.id]);
  });

  it('stores none of them when off, as Celery by default', async (test) => {
    const { ship } = await appWith(test, false);
    const result = await ship.applyAsync([{ customerId: 1 }, false], { queue: 'orders' });
    await result.get({ timeout: 20 });
    const meta = await result.meta();
    expect(meta.status).toBe('SUCCESS');
    expect(meta).not.toHaveProperty('name');
    expect(meta).not.toHaveProperty('args');
  });
});
