/**
 * Growing the pool raises the broker's prefetch, and shrinking lowers it, as Celery's
 * pool_grow / pool_shrink do (`_update_prefetch_count`): on a one-slot worker with a
 * prefetch of 2, pool_grow 3 gets four tasks running at once (with the old prefetch only
 * two could be held), and pool_shrink back to one slot holds no more than two again. On
 * every broker: those whose consumer resizes in place (memory, SQLite, Redis, RabbitMQ)
 * and PostgreSQL, where the worker replaces its consumer with one of the new size.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { AMQP_URL, REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { testSchema } from '../support/postgres.js';
import { openAdmin, uniqueName } from '../brokers/amqp/support.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type BrokerName = 'memory' | 'sqlite' | 'redis' | 'amqp' | 'postgres';

/** Broker and backend URLs of a test's own, and what removes them afterwards. */
async function urls(
  ctx: TestContext,
  name: BrokerName,
): Promise<{ broker: string; backend: string; queue: string; keyPrefix?: string }> {
  const queue = `prefetch-${randomUUID().slice(0, 8)}`;
  switch (name) {
    case 'memory': {
      const url = `memory://prefetch-${randomUUID()}`;
      return { broker: url, backend: url, queue };
    }
    case 'sqlite': {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-prefetch-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const url = `sqlite://${path.join(dir, 'broker.db')}`;
      return { broker: url, backend: url, queue };
    }
    case 'redis': {
      await requireService(ctx, 'redis');
      const keyPrefix = `celeriac-test:prefetch-${randomUUID().slice(0, 8)}:`;
      cleanups.push(() => deleteRedisPrefix(keyPrefix));
      return { broker: REDIS_URL, backend: REDIS_URL, queue, keyPrefix };
    }
    case 'amqp': {
      await requireService(ctx, 'rabbitmq');
      const amqpQueue = uniqueName('prefetch');
      const admin = await openAdmin();
      cleanups.push(async () => {
        await admin.remove({ queues: [amqpQueue], exchanges: [amqpQueue] });
        await admin.close();
      });
      return { broker: AMQP_URL, backend: `memory://prefetch-${randomUUID()}`, queue: amqpQueue };
    }
    case 'postgres': {
      await requireService(ctx, 'postgres');
      const schema = testSchema('prefetch');
      cleanups.push(() => schema.drop());
      return { broker: schema.url, backend: schema.url, queue };
    }
  }
}

/** A one-slot worker (prefetch 2) whose task waits until the test opens its gate. */
async function gatedWorker(ctx: TestContext, name: BrokerName) {
  const where = await urls(ctx, name);
  const app = new Celeriac({
    broker: where.broker,
    backend: where.backend,
    defaultQueue: where.queue,
    ...(where.keyPrefix ? { keyPrefix: where.keyPrefix } : {}),
  });
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  app.task('prefetch.hold', () => gate);
  const worker = new Worker(app, {
    concurrency: 1,
    prefetchMultiplier: 1,
    logger: createLineLogger({ level: 'error' }),
  });
  cleanups.push(async () => {
    open();
    await worker.stop({ timeout: 5 });
    await app.close();
  });
  const held = () => {
    const { running, reserved } = worker.snapshot();
    return { running: running.length, reserved: reserved.length };
  };
  return {
    app,
    worker,
    held,
    /** Lets every running task end, and those that start until the gate closes again. */
    release: () => open(),
    closeGate: () => {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    send: (n: number) =>
      app.sendMany(Array.from({ length: n }, () => ({ task: 'prefetch.hold', args: [] }))),
  };
}

describe.each<BrokerName>(['memory', 'sqlite', 'redis', 'amqp', 'postgres'])(
  'pool_grow and pool_shrink resize the prefetch on %s',
  (name) => {
    it('lets the grown pool run as many tasks as it has slots, and holds fewer once shrunk', async (ctx) => {
      const { worker, held, release, closeGate, send } = await gatedWorker(ctx, name);
      await worker.start();
      expect(worker.prefetchCount).toBe(2);
      const first = await send(6);
      // One running, one reserved: the prefetch of 2 for one slot.
      await expect.poll(held, { timeout: 10_000 }).toEqual({ running: 1, reserved: 1 });

      expect(worker.resizePool(3)).toBe(4);
      expect(worker.prefetchCount).toBe(8);
      // The four slots fill: the consumer fetched past its old prefetch of 2.
      await expect.poll(held, { timeout: 10_000 }).toEqual({ running: 4, reserved: 2 });

      expect(worker.resizePool(-3)).toBe(1);
      expect(worker.prefetchCount).toBe(2);
      release();
      await Promise.all(first.map((result) => result.get({ timeout: 20 })));
      await expect.poll(() => worker.activeCount, { timeout: 10_000 }).toBe(0);

      closeGate();
      const second = await send(6);
      await expect.poll(held, { timeout: 10_000 }).toEqual({ running: 1, reserved: 1 });
      // Time for a consumer still at the grown prefetch of 8 to fetch five more: it must not.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(held()).toEqual({ running: 1, reserved: 1 });
      release();
      await Promise.all(second.map((result) => result.get({ timeout: 20 })));
    }, 60_000);
  },
);

describe('a consumer that cannot resize (PostgreSQL) is replaced once per change, never doubled', () => {
  it('grow and shrink back to back, with add_consumer between, leave one consumer of the final prefetch', async (ctx) => {
    const { worker, held, release, send } = await gatedWorker(ctx, 'postgres');
    await worker.start();
    worker.resizePool(3);
    const added = worker.addQueue('prefetch-extra');
    worker.resizePool(-3);
    await added;
    expect(worker.prefetchCount).toBe(2);
    const results = await send(6);
    await expect.poll(held, { timeout: 10_000 }).toEqual({ running: 1, reserved: 1 });
    // Two consumers left running would hold 2 each: time for a second one to fetch.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(held()).toEqual({ running: 1, reserved: 1 });
    release();
    await Promise.all(results.map((result) => result.get({ timeout: 20 })));
  }, 60_000);
});
