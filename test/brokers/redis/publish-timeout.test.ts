/**
 * A publish Redis does not answer fails within `publishTimeoutMs` with BrokerConnectionError
 * (the command was sent; its outcome is unknown), after answered ones and after another
 * unanswered one, and none fails early. On a redis-server of the test's own, paused with
 * CLIENT PAUSE WRITE (it holds the LPUSH unanswered).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisBroker } from '../../../src/brokers/redis/index.js';
import { BrokerConnectionError } from '../../../src/errors.js';
import { makeMessage, sleep } from '../../../src/testing/broker-conformance.js';
import { PrivateRedis, rawClient } from './redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('redis publish timeout', () => {
  it('rejects an unanswered publish after publishTimeoutMs, not before', async () => {
    const redis = await PrivateRedis.start();
    cleanups.push(() => redis.dispose());
    const broker = createRedisBroker(redis.url, { publishTimeoutMs: 400 });
    cleanups.push(() => broker.close());
    const admin = rawClient(redis.url);
    cleanups.push(() => Promise.resolve(admin.disconnect()));
    // Answered publishes first.
    for (let i = 0; i < 5; i++) await broker.publish(makeMessage(`ok-${i}`), { queue: 'q' });
    await sleep(150);
    await admin.call('CLIENT', 'PAUSE', '3000', 'WRITE');
    const started = Date.now();
    const held = broker.publish(makeMessage('held'), { queue: 'q' });
    const outcome = await held.then(
      () => 'stored',
      (error: unknown) => error,
    );
    const waited = Date.now() - started;
    expect(outcome).toBeInstanceOf(BrokerConnectionError);
    expect((outcome as Error).message).toMatch(/did not confirm a publish within 400 ms/);
    expect(waited).toBeGreaterThanOrEqual(390);
    expect(waited).toBeLessThan(1500);
    // A second one, bounded the same way.
    const again = Date.now();
    await expect(broker.publish(makeMessage('held-2'), { queue: 'q' })).rejects.toBeInstanceOf(
      BrokerConnectionError,
    );
    expect(Date.now() - again).toBeGreaterThanOrEqual(390);
    // Staggered ones share the publisher's one timer: each still fails at its own deadline.
    const firstAt = Date.now();
    const first = broker.publish(makeMessage('held-3'), { queue: 'q' }).catch(() => Date.now());
    await sleep(200);
    const secondAt = Date.now();
    const second = broker.publish(makeMessage('held-4'), { queue: 'q' }).catch(() => Date.now());
    const [firstFailed, secondFailed] = await Promise.all([first, second]);
    expect((firstFailed as number) - firstAt).toBeGreaterThanOrEqual(390);
    expect((secondFailed as number) - secondAt).toBeGreaterThanOrEqual(390);
    expect((secondFailed as number) - secondAt).toBeLessThan(1000);
    await admin.call('CLIENT', 'UNPAUSE');
    await broker.publish(makeMessage('after'), { queue: 'q' });
    // Sent and so maybe stored: here all four held ones were stored once Redis resumed.
    expect(await admin.llen('q')).toBe(10);
  });
});
