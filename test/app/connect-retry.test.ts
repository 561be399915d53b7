/**
 * An app whose broker or result backend is away at its first use: the call fails with a
 * clear BrokerConnectionError, nothing keeps reconnecting behind it, and a later call
 * connects once the server is there (the failure is not remembered). A Redis of the
 * test's own on a spare port, started only after the first attempt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { BrokerConnectionError } from '../../src/errors.js';
import {
  requirePrerequisite,
  commandMissing,
  PrivateRedis,
  sparePort,
} from '../brokers/redis/redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('an app whose server is away at first use', () => {
  it('fails the first call clearly, then connects on a later call once Redis is up', async (ctx) => {
    requirePrerequisite(ctx, commandMissing('redis-server', ['--version']));
    const redis = new PrivateRedis(await sparePort());
    const url = `redis://127.0.0.1:${redis.port}/0`;
    const app = new Celeriac({ broker: url, backend: url, keyPrefix: 'celeriac-test:retry:' });
    cleanups.push(async () => {
      await app.close();
      await redis.dispose();
    });
    await expect(app.broker()).rejects.toBeInstanceOf(BrokerConnectionError);
    await expect(app.resultBackend()).rejects.toBeInstanceOf(BrokerConnectionError);
    await redis.start();
    const broker = await app.broker();
    const backend = await app.resultBackend();
    expect(await broker.queueLength('celery')).toBe(0);
    const result = await app.sendTask('tests.nothing', []);
    expect(await broker.queueLength('celery')).toBe(1);
    expect(await backend.get(result.id)).toBeUndefined();
  });
});
