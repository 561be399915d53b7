/**
 * Results that ride along with a consumer's fetch call: while a consumer of the Redis
 * broker the backend was handed (attachBroker) runs, a Redis result backend on the same
 * server hands it its writes, which land
 * exactly as the backend's own would (Celery's key, expiry, channel, SUCCESS kept); a
 * backend on another database is never carried; a write the consumer had not sent when it
 * stopped goes back to the backend, which stores it itself.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../../../src/backends/redis/index.js';
import { createRedisBroker, type RedisBroker } from '../../../src/brokers/redis/index.js';
import type { ResultCarrier } from '../../../src/connections/redis/result-carrier.js';
import { buildResultMeta, encodeResultMeta } from '../../../src/protocol/result-meta.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { requireService } from '../../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL } from './redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;

async function consuming(ctx: TestContext, backendUrl = REDIS_URL) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:carrier-${process.pid}-${++counter}:`;
  const broker: RedisBroker = createRedisBroker(REDIS_URL, { keyPrefix: prefix });
  const backend: RedisBackend = createRedisBackend(backendUrl, { keyPrefix: prefix });
  backend.attachBroker(broker);
  await broker.connect();
  await backend.connect();
  const consumer = await broker.consume({
    queues: [`${prefix}q`],
    prefetch: 4,
    onDelivery: () => undefined,
  });
  const raw = rawClient();
  const rawBackendDb = rawClient(backendUrl);
  cleanups.push(async () => {
    await broker.close();
    await backend.close();
    await deleteByPrefix(raw, prefix);
    await deleteByPrefix(rawBackendDb, prefix);
    raw.disconnect();
    rawBackendDb.disconnect();
  });
  return { prefix, broker, backend, consumer, raw, rawBackendDb };
}

/** Counts the writes handed to the broker's carrier (the consumer) from now on. */
function countCarried(carrier: ResultCarrier): { count: number } {
  const counted = { count: 0 };
  const carry = carrier.carry.bind(carrier);
  carrier.carry = (write) => {
    counted.count += 1;
    carry(write);
  };
  return counted;
}

function meta(status: ResultMeta['status'], result: ResultMeta['result'] = null): ResultMeta {
  return buildResultMeta({ taskId: crypto.randomUUID(), status, result });
}

describe('results carried by a Redis consumer', () => {
  it('stores and publishes a carried result exactly as the backend does on its own', async (ctx) => {
    const { broker, backend, raw, prefix } = await consuming(ctx);
    const carrier = broker.resultCarriers.current();
    expect(carrier).toBeDefined();
    const carried = countCarried(carrier!);
    const stored = meta('SUCCESS', { total: 42 });
    const key = `${prefix}celery-task-meta-${stored.task_id}`;
    const pushes: ResultMeta[] = [];
    await backend.subscribe(stored.task_id, (pushed) => pushes.push(pushed));
    await backend.store(stored);
    expect(carried.count).toBe(1);
    expect(await raw.get(key)).toBe(encodeResultMeta(stored));
    const ttl = await raw.ttl(key);
    expect(ttl).toBeGreaterThan(86_390);
    expect(ttl).toBeLessThanOrEqual(86_400);
    await expect.poll(() => pushes.map((p) => p.status)).toEqual(['SUCCESS']);
    expect(await backend.get(stored.task_id)).toEqual(stored);
  });

  it('keeps a SUCCESS already stored when a later state is carried', async (ctx) => {
    const { broker, backend } = await consuming(ctx);
    const carried = countCarried(broker.resultCarriers.current()!);
    const success = meta('SUCCESS', 'done');
    await backend.store(success);
    await backend.store({ ...meta('PROGRESS', { current: 1 }), task_id: success.task_id });
    expect(carried.count).toBe(2);
    expect((await backend.get(success.task_id))?.status).toBe('SUCCESS');
  });

  it('never carries a backend on another database of the same server', async (ctx) => {
    const otherDb = REDIS_URL.replace(/\/\d+$/, '') + '/7';
    const { broker, backend, raw, rawBackendDb, prefix } = await consuming(ctx, otherDb);
    const carried = countCarried(broker.resultCarriers.current()!);
    const stored = meta('SUCCESS', 1);
    await backend.store(stored);
    expect(carried.count).toBe(0);
    expect(await rawBackendDb.get(`${prefix}celery-task-meta-${stored.task_id}`)).toBe(
      encodeResultMeta(stored),
    );
    expect(await raw.get(`${prefix}celery-task-meta-${stored.task_id}`)).toBeNull();
  });

  it('gives back a write it had not sent when it stops, and the backend then stores it itself', async (ctx) => {
    const { broker, backend, consumer, raw, prefix } = await consuming(ctx);
    const carrier = broker.resultCarriers.current()!;
    const stranded = meta('SUCCESS', 'given back');
    const key = `${prefix}celery-task-meta-${stranded.task_id}`;
    // Handed over and the consumer cancelled in the same turn: it never sent it.
    const outcome = new Promise<string>((resolve) =>
      carrier.carry({
        key,
        expiresMs: 60_000,
        text: encodeResultMeta(stranded),
        done: () => resolve('sent'),
        fail: () => resolve('failed'),
        giveBack: () => resolve('given back'),
      }),
    );
    const stopped = consumer.cancel();
    expect(await outcome).toBe('given back');
    await stopped;
    expect(await raw.get(key)).toBeNull();
    expect(broker.resultCarriers.current()).not.toBe(carrier);
    // With no consumer left, the backend stores on its own connection.
    const later = meta('SUCCESS', 'later');
    await backend.store(later);
    expect(await raw.get(`${prefix}celery-task-meta-${later.task_id}`)).toBe(
      encodeResultMeta(later),
    );
  });

  it('never carries for a backend that was not handed the broker, even on the same server', async (ctx) => {
    const { broker, raw, prefix } = await consuming(ctx);
    const carried = countCarried(broker.resultCarriers.current()!);
    const alone = createRedisBackend(REDIS_URL, { keyPrefix: prefix });
    cleanups.push(() => alone.close());
    const stored = meta('SUCCESS', 'alone');
    await alone.store(stored);
    expect(carried.count).toBe(0);
    expect(await raw.get(`${prefix}celery-task-meta-${stored.task_id}`)).toBe(
      encodeResultMeta(stored),
    );
  });
});
