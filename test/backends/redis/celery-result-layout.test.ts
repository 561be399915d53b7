/**
 * The Redis result backend writes what Celery 5.2.6 and 5.6.3 wrote (test/fixtures/celery-wire):
 * the meta under `celery-task-meta-<id>` with a one-day expiry, the same text published on
 * the channel of that name; and it reads what Celery wrote. Each test works under its own key prefix.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../../../src/backends/redis/index.js';
import { parseCeleryJson } from '../../../src/protocol/json.js';
import { decodeResultMeta } from '../../../src/protocol/result-meta.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { requireService } from '../../support/services.js';
import { STACKS, storedMetas } from '../../protocol/wire-vectors.js';
import { deleteByPrefix, rawClient, REDIS_URL } from '../../brokers/redis/redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;
async function setup(ctx: TestContext) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:results-${process.pid}-${++counter}:`;
  const backend: RedisBackend = createRedisBackend(REDIS_URL, { keyPrefix: prefix });
  await backend.connect();
  const raw = rawClient();
  const listener = rawClient();
  cleanups.push(async () => {
    await backend.close();
    listener.disconnect();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });
  return { prefix, backend, raw, listener };
}

describe.each(STACKS)('Celery result layout, %s', (stack) => {
  it('stores each captured meta byte for byte under celery-task-meta-<id>, expiring in a day, and publishes it there', async (ctx) => {
    const { prefix, backend, raw, listener } = await setup(ctx);
    const metas = storedMetas(stack, 'worker_results.json');
    expect(metas.length).toBeGreaterThan(5);
    const published: string[] = [];
    listener.on('message', (_channel: string, message: string) => published.push(message));
    for (const { key, raw: text } of metas) {
      await listener.subscribe(`${prefix}${key}`);
      // A fresh key each time: the never-overwrite-SUCCESS rule is not what is tested here.
      await raw.del(`${prefix}${key}`);
      // As a worker holds it (not through decodeResultMeta, which reads 5.6's `children: null` as []).
      await backend.store(parseCeleryJson(text) as unknown as ResultMeta);
      expect(await raw.get(`${prefix}${key}`)).toBe(text);
      const ttl = await raw.ttl(`${prefix}${key}`);
      expect(ttl).toBeGreaterThan(86_390);
      expect(ttl).toBeLessThanOrEqual(86_400);
    }
    await expect.poll(() => published.length).toBe(metas.length);
    expect(published).toEqual(metas.map((m) => m.raw));
  });

  it('reads metas Celery stored and pushes those Celery publishes', async (ctx) => {
    const { prefix, backend, raw } = await setup(ctx);
    const [first] = storedMetas(stack, 'worker_results.json').filter((m) =>
      m.raw.includes('"FAILURE"'),
    );
    const expected = decodeResultMeta(first!.raw);
    const seen: ResultMeta[] = [];
    const unsubscribe = await backend.subscribe(expected.task_id, (meta) => seen.push(meta));
    await raw.setex(`${prefix}${first!.key}`, 86_400, first!.raw);
    await raw.publish(`${prefix}${first!.key}`, first!.raw);
    expect(await backend.get(expected.task_id)).toEqual(expected);
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toEqual(expected);
    await unsubscribe();
  });
});
