/**
 * Finds out whether a real service (Redis, RabbitMQ, PostgreSQL) answers, so a test that
 * needs it can skip with the reason when it does not, and fail under CI=true, where a
 * missing service is a broken machine rather than a reason to skip.
 */
import net from 'node:net';
import type { TestContext } from 'vitest';

const cache = new Map<string, Promise<string | null>>();

/** Resolves to null when host:port accepts a TCP connection, else the reason it did not. */
export function probe(host: string, port: number, timeoutMs = 1000): Promise<string | null> {
  const key = `${host}:${port}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = new Promise((resolve) => {
      const socket = net.connect({ host, port });
      const done = (reason: string | null) => {
        socket.destroy();
        resolve(reason);
      };
      socket.setTimeout(timeoutMs, () => done(`no answer from ${key} within ${timeoutMs} ms`));
      socket.once('connect', () => done(null));
      socket.once('error', (error) => done(`${key} unreachable: ${error.message}`));
    });
    cache.set(key, pending);
  }
  return pending;
}

export const REDIS_URL = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.CELERIAC_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export const services = {
  redis: () => probe('127.0.0.1', 6379),
  rabbitmq: () => probe('127.0.0.1', 5672),
  postgres: () => probe('127.0.0.1', 5432),
};

/**
 * Call first in a test that needs a service: skips the test with the reason when the
 * service is down, and throws instead when CI=true.
 */
export async function requireService(ctx: TestContext, name: keyof typeof services): Promise<void> {
  const reason = await services[name]();
  if (reason === null) return;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${name} is required: ${reason}`);
  ctx.skip(`${name} not reachable: ${reason}`);
}
