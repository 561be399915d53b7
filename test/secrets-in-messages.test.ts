/**
 * No password reaches a user's screen or logs: real connections that fail (nothing
 * listening, a wrong password, a server that goes away under a consumer) report errors
 * without the password of any credential form, and `celeriac status`, a real process,
 * prints the broker URL without it.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createAmqpBroker } from '../src/brokers/amqp/index.js';
import { createRedisBroker } from '../src/brokers/redis/index.js';
import { killAll, runCli } from './support/worker-process.js';
import { requireService } from './support/services.js';
import { deleteRedisPrefix } from './support/redis-cleanup.js';
import { PrivateRedis, sparePort } from './brokers/redis/redis-test-support.js';
import { waitFor } from './brokers/broker-conformance.js';

const SECRET = 'Hunter2-S3cret';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The message of what `connect()` rejected with. */
async function connectFailure(broker: {
  connect(): Promise<void>;
  close(): Promise<void>;
}): Promise<string> {
  try {
    await broker.connect();
  } catch (error) {
    const cause = (error as Error).cause;
    return `${(error as Error).message} ${cause instanceof Error ? cause.message : ''}`;
  } finally {
    await broker.close();
  }
  throw new Error('connect() succeeded where it had to fail');
}

describe('Redis connection errors hide the password', () => {
  it.each([
    (port: number) => `redis://:${SECRET}@127.0.0.1:${port}/0`,
    (port: number) => `redis://app:${SECRET}@127.0.0.1:${port}/0`,
    (port: number) => `redis://127.0.0.1:${port}/0?password=${SECRET}`,
    (port: number) => `redis://app:${SECRET}@127.0.0.1:${port}/0?keyPrefix=x:&password=${SECRET}`,
    (port: number) =>
      `rediss://app:${SECRET}@127.0.0.1:${port}/0?ssl_cert_reqs=none&password=${SECRET}`,
  ])('when nothing listens: %s', async (form) => {
    const port = await sparePort();
    const message = await connectFailure(createRedisBroker(form(port)));
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).not.toContain(SECRET);
  });

  it('for a unix socket that is not there', async () => {
    const message = await connectFailure(
      createRedisBroker(
        `unix:///nonexistent/celeriac-${randomUUID()}.sock?db=1&password=${SECRET}`,
      ),
    );
    expect(message).toMatch(/Could not connect to Redis at unix:/);
    expect(message).not.toContain(SECRET);
  });

  it('when Redis refuses the credentials', async (ctx) => {
    await requireService(ctx, 'redis');
    const message = await connectFailure(
      createRedisBroker(
        `redis://nobody-${randomUUID()}:${SECRET}@127.0.0.1:6379/0?password=${SECRET}`,
      ),
    );
    expect(message).toMatch(/WRONGPASS/);
    expect(message).not.toContain(SECRET);
  });

  it('in what a consumer reports when its Redis goes away', async () => {
    const redis = await PrivateRedis.start();
    cleanups.push(() => redis.dispose());
    // A server without a password takes ?password= with a warning, so the URL works.
    const broker = createRedisBroker(`redis://127.0.0.1:${redis.port}/0?password=${SECRET}`, {
      keyPrefix: 'secrets:',
      publishTimeoutMs: 500,
    }); // closes without waiting long on the dead server
    cleanups.push(() => broker.close());
    const errors: string[] = [];
    await broker.consume({
      queues: ['q'],
      prefetch: 1,
      onDelivery: () => undefined,
      onError: (error) => errors.push(error.message),
    });
    await redis.kill();
    await waitFor(
      'a reconnect error',
      () => errors.some((text) => /reconnecting/.test(text)),
      10_000,
    );
    expect(errors.join('\n')).not.toContain(SECRET);
    expect(errors.join('\n')).toContain('password=***');
  });
});

describe('AMQP connection errors hide the password', () => {
  it('when nothing listens', async () => {
    const port = await sparePort();
    const message = await connectFailure(
      createAmqpBroker(`amqp://app:${SECRET}@127.0.0.1:${port}//`, { connectTimeoutMs: 1500 }),
    );
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).not.toContain(SECRET);
  });

  it('when RabbitMQ refuses the credentials', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const message = await connectFailure(
      createAmqpBroker(`amqp://guest:${SECRET}@127.0.0.1:5672//`, { connectTimeoutMs: 3000 }),
    );
    expect(message).toMatch(/ACCESS.REFUSED|could not reach RabbitMQ/);
    expect(message).not.toContain(SECRET);
  });
});

describe('celeriac status', () => {
  it('shows the broker URL without its ?password=', async (ctx) => {
    await requireService(ctx, 'redis');
    const prefix = `secrets-${randomUUID()}:`;
    cleanups.push(() => deleteRedisPrefix(prefix));
    const run = runCli(['-A', 'test/worker/fixtures/app.ts', 'status'], {
      CELERIAC_BROKER_URL: `redis://127.0.0.1:6379/0?keyPrefix=${prefix}&password=${SECRET}`,
    });
    await run.exited;
    expect(run.output()).toMatch(
      /^broker: redis redis:\/\/127\.0\.0\.1:6379\/0\?keyPrefix=.*&password=\*\*\* OK$/m,
    );
    expect(run.output()).not.toContain(SECRET);
  });

  it('reports a broker it cannot reach without the password', async () => {
    const port = await sparePort();
    const run = runCli(['-A', 'test/worker/fixtures/app.ts', 'status'], {
      CELERIAC_BROKER_URL: `redis://app:${SECRET}@127.0.0.1:${port}/0?password=${SECRET}`,
    });
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toContain(`127.0.0.1:${port}`);
    expect(run.output()).not.toContain(SECRET);
  });
});
