/**
 * Workers on a real Redis (broker and result backend on one server, so results ride along
 * with the consumers' fetch calls): many tasks across two workers in one process, none
 * lost or run twice and every result stored; a warm stop in the middle of a stream loses
 * no task and no result, and another worker finishes the rest. Each test works under its
 * own key prefix.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import type { Logger } from '../../src/logger.js';
import { requireService, REDIS_URL } from '../support/services.js';
import { deleteByPrefix, rawClient } from '../brokers/redis/redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const errors: string[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (first: unknown, second?: string) => void errors.push(String(second ?? first)),
  error: (first: unknown, second?: string) => void errors.push(String(second ?? first)),
};

let counter = 0;

/** An app on its own key prefix whose `count` task records every run by its argument. */
async function redisApp(ctx: TestContext) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:worker-${process.pid}-${++counter}:`;
  const runs = new Map<string, number>();
  const make = () => {
    const app = new Celeriac({ broker: REDIS_URL, backend: REDIS_URL, keyPrefix: prefix });
    app.task('test.count', (key: string) => {
      runs.set(key, (runs.get(key) ?? 0) + 1);
      return key;
    });
    return app;
  };
  const apps: Celeriac[] = [];
  const raw = rawClient();
  cleanups.push(async () => {
    for (const app of apps) await app.close();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });
  const open = () => {
    const app = make();
    apps.push(app);
    return app;
  };
  return { prefix, runs, open, raw };
}

describe('workers on Redis', () => {
  it('runs many tasks across two workers of one process with none lost, none run twice and every result stored', async (ctx) => {
    errors.length = 0;
    const { runs, open } = await redisApp(ctx);
    const client = open();
    const workers = [
      new Worker(open(), { concurrency: 20, logger }),
      new Worker(open(), { concurrency: 5, logger }),
    ];
    for (const worker of workers) await worker.start();
    const count = 3000;
    const results = await client.sendMany(
      Array.from({ length: count }, (_, i) => ({ task: 'test.count', args: [`k${i}`] })),
    );
    const values = await Promise.all(results.map((result) => result.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: count }, (_, i) => `k${i}`));
    expect(runs.size).toBe(count);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    for (const worker of workers) await worker.stop();
    expect(errors).toEqual([]);
  });

  it('loses no task and no result when a worker stops warm in the middle of a stream', async (ctx) => {
    errors.length = 0;
    const { runs, open, raw, prefix } = await redisApp(ctx);
    const client = open();
    const count = 4000;
    const results = await client.sendMany(
      Array.from({ length: count }, (_, i) => ({ task: 'test.count', args: [`k${i}`] })),
    );
    const first = new Worker(open(), { concurrency: 50, logger });
    await first.start();
    await expect.poll(() => runs.size, { timeout: 20_000, interval: 5 }).toBeGreaterThan(count / 4);
    await first.stop();
    // Stopped: whatever ran has its result, and whatever did not is back in the queue.
    const stored = await Promise.all(
      results.map(async (result) => (await result.state()) === 'SUCCESS'),
    );
    expect(stored.filter(Boolean).length).toBe(runs.size);
    expect(runs.size).toBeLessThan(count);
    expect(await raw.llen(`${prefix}celery`)).toBe(count - runs.size);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
    const second = new Worker(open(), { concurrency: 10, logger });
    await second.start();
    const values = await Promise.all(results.map((result) => result.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: count }, (_, i) => `k${i}`));
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    await second.stop();
    expect(errors).toEqual([]);
  });
});
