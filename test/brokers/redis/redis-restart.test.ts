/**
 * Surviving Redis going away, on a redis-server of the test's own (a spare port, stopped
 * and started by the test): consumers reconnect and go on consuming, nothing published
 * with success is lost, a publish during the outage succeeds after the reconnect or
 * rejects with BrokerConnectionError within its bound, and unix-socket URLs work.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/brokers/broker.js';
import { createRedisBroker, type RedisBroker } from '../../../src/brokers/redis/index.js';
import { createRedisBackend } from '../../../src/backends/redis/index.js';
import { BrokerConnectionError } from '../../../src/errors.js';
import { makeMessage, sleep, waitFor } from '../../../src/testing/broker-conformance.js';
import { idOf } from '../../../src/testing/broker-conformance/harness.js';
import { PrivateRedis } from './redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function privateRedis(options: { unixSocket?: boolean } = {}): Promise<PrivateRedis> {
  const redis = await PrivateRedis.start(options);
  cleanups.push(() => redis.dispose());
  return redis;
}

function track(broker: RedisBroker): RedisBroker {
  cleanups.push(() => broker.close());
  return broker;
}

describe('redis restart', () => {
  it('keeps consuming across a Redis restart under load, losing no message whose publish succeeded', async () => {
    const redis = await privateRedis();
    const publisher = track(createRedisBroker(redis.url, { publishTimeoutMs: 15_000 }));
    const consumerBroker = track(createRedisBroker(redis.url, { leaseMs: 3000 }));
    await publisher.connect();
    const received = new Set<string>();
    const errors: Error[] = [];
    await consumerBroker.consume({
      queues: ['load'],
      prefetch: 20,
      onDelivery: (delivery: Delivery) => {
        received.add(idOf(delivery));
        void delivery.ack().catch(() => undefined);
      },
      onError: (error) => errors.push(error),
    });
    const published: string[] = [];
    const failed: string[] = [];
    let restartedAt = 0;
    const publishing = (async () => {
      for (let i = 0; i < 1500; i++) {
        const id = `load-${i}`;
        try {
          await publisher.publish(makeMessage(id), { queue: 'load' });
          published.push(id);
        } catch (error) {
          expect(error).toBeInstanceOf(BrokerConnectionError);
          failed.push(id);
        }
        if (i % 50 === 0) await sleep(1);
      }
    })();
    await waitFor('some traffic before the restart', () => received.size > 200, 10_000);
    await redis.stop();
    await sleep(1000);
    await redis.start();
    restartedAt = Date.now();
    await publishing;
    await waitFor(
      `every successfully published message (${published.length}) to arrive`,
      () => published.every((id) => received.has(id)),
      20_000,
    );
    expect(published.length).toBeGreaterThan(1400);
    expect(failed).toEqual([]);
    expect(restartedAt).toBeGreaterThan(0);
    // The outage was noticed and reported, not hidden.
    expect(errors.length).toBeGreaterThan(0);
  });

  it('rejects a publish with BrokerConnectionError when Redis stays away past the bound, and publishes once it is back', async () => {
    const redis = await privateRedis();
    const broker = track(createRedisBroker(redis.url, { publishTimeoutMs: 300 }));
    await broker.publish(makeMessage('before'), { queue: 'q' });
    await redis.stop();
    // Once the client knows Redis is gone, a publish is not even sent: it waits, then fails.
    await waitFor('the client to see the outage', () => broker.core.client.status !== 'ready');
    const started = Date.now();
    await expect(broker.publish(makeMessage('during'), { queue: 'q' })).rejects.toBeInstanceOf(
      BrokerConnectionError,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    await redis.start();
    await waitFor(
      'the broker to reconnect',
      async () => {
        try {
          await broker.publish(makeMessage('after'), { queue: 'q' });
          return true;
        } catch {
          return false;
        }
      },
      10_000,
    );
    // `during` was never sent: only the two others are there.
    expect(await broker.queueLength('q')).toBe(2);
  });
});

describe('redis unix socket URLs', () => {
  it('publishes, consumes and stores results over unix:///path/to/redis.sock', async () => {
    const redis = await privateRedis({ unixSocket: true });
    const url = `unix://${path.join(redis.dir, 'redis.sock')}?db=3`;
    const broker = track(createRedisBroker(url));
    await broker.publish(makeMessage('over-unix'), { queue: 'q' });
    const got: Delivery[] = [];
    await broker.consume({ queues: ['q'], prefetch: 1, onDelivery: (d) => got.push(d) });
    await waitFor('the message', () => got.length === 1);
    await got[0]!.ack();
    const backend = createRedisBackend(url);
    cleanups.push(() => backend.close());
    await backend.store({
      status: 'SUCCESS',
      result: 1,
      traceback: null,
      children: [],
      date_done: null,
      task_id: 't1',
    });
    expect((await backend.get('t1'))?.result).toBe(1);
  });
});
