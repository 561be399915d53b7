/**
 * `celeriac purge` means the same on every broker, as Celery's: it deletes the ready
 * messages of the named queues and says how many, per queue and in total. A message a
 * worker holds (unacked) stays and can still be acked; a delayed one not yet due stays and
 * is delivered when due; other queues are untouched. Before, SQLite and Redis also deleted
 * held and delayed messages. Asks first unless -f; a "no", or input ending, purges nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { AMQP_URL, REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { openAdmin } from '../brokers/amqp/support.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await stopCliProcesses();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTempDirs();
});

/** How long the delayed message waits: well past the purge's start-up on a loaded machine. */
const DELAY_S = 8;

interface Setup {
  env: Record<string, string>;
  url: string;
}

const brokers: Record<'sqlite' | 'redis' | 'amqp', (queues: string[]) => Setup> = {
  sqlite: () => {
    const { env } = sqliteEnv('purge');
    return { env, url: env.CELERIAC_BROKER_URL ?? '' };
  },
  redis: () => {
    const prefix = `cli-purge-${randomUUID()}:`;
    cleanups.push(() => deleteRedisPrefix(prefix));
    const url = `${REDIS_URL}/0?keyPrefix=${prefix}`;
    return { env: { CELERIAC_BROKER_URL: url }, url };
  },
  amqp: (queues) => {
    cleanups.push(async () => {
      const admin = await openAdmin();
      await admin.remove({ queues });
      await admin.close();
    });
    // No result backend: purge needs none.
    return { env: { CELERIAC_BROKER_URL: AMQP_URL }, url: AMQP_URL };
  },
};

describe.each(['sqlite', 'redis', 'amqp'] as const)('celeriac purge on %s', (kind) => {
  it('removes the ready messages only, and reports them per queue and in total', async (ctx) => {
    if (kind === 'redis') await requireService(ctx, 'redis');
    if (kind === 'amqp') await requireService(ctx, 'rabbitmq');
    const id = randomUUID().slice(0, 8);
    const [queue, empty, other] = [`purge-${id}`, `purge-empty-${id}`, `purge-other-${id}`];
    const { env, url } = brokers[kind]([queue, empty, other]);

    const app = new Celeriac({ broker: url, backend: kind === 'amqp' ? undefined : url });
    cleanups.push(() => app.close());
    const broker = await app.broker();
    for (let i = 0; i < 4; i++)
      await app.sendTask('cli.add', [i, i], { queue, taskId: `ready-${i}` });
    await app.sendTask('cli.add', [0, 0], { queue: other, taskId: 'other' });
    const due = Date.now() + DELAY_S * 1000;
    await app.sendTask('cli.add', [9, 9], { queue, taskId: 'delayed', countdown: DELAY_S });

    // One message held by a consumer, not settled: in flight, not ready.
    const deliveries: Delivery[] = [];
    const consumer = await broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (d) => deliveries.push(d),
    });
    cleanups.push(() => consumer.cancel());
    await until(() => deliveries.length === 1);
    expect(await broker.queueLength(queue)).toBe(3);

    const purge = await runToEnd(['-A', APP, 'purge', '-f', '-Q', `${queue},${empty}`], env);
    expect(
      Date.now(),
      'the purge ran after the delayed message was due: raise DELAY_S',
    ).toBeLessThan(due);
    expect(purge.stderr).toBe('');
    expect(purge.code).toBe(0);
    expect(purge.stdout).toBe(
      `${queue}: 3 messages purged\n${empty}: 0 messages purged\nPurged 3 messages from 2 queues.\n`,
    );
    expect(await broker.queueLength(queue)).toBe(0);
    expect(await broker.queueLength(other)).toBe(1);

    // The held one can still be acked; the next delivery is the delayed one, once due.
    const held = deliveries[0];
    expect(held?.message.headers.id).toBe('ready-0');
    await held?.ack();
    await until(() => deliveries.length === 2, (DELAY_S + 15) * 1000);
    expect(deliveries[1]?.message.headers.id).toBe('delayed');
    await deliveries[1]?.ack();
  });
});

describe('celeriac purge asks first', () => {
  it.each([
    ['"n"', 'n\n'],
    ['an input that ends unanswered', ''],
  ])('purges nothing on %s', async (_name, input) => {
    const { env } = sqliteEnv('ask');
    const queue = `ask-${randomUUID().slice(0, 8)}`;
    await runToEnd(['-A', APP, 'call', 'cli.add', '-a', '[1, 2]', '-Q', queue], env);
    const purge = await runToEnd(['-A', APP, 'purge', '-Q', queue], env, input);
    expect(purge.stderr).toContain(
      `Delete every waiting task in ${queue} (1 waiting)? There is no undo. [y/N]`,
    );
    expect(purge.stderr).toMatch(/Nothing purged/);
    expect(purge.stdout).toBe('');
    const status = await runToEnd(['-A', APP, 'status', '-Q', queue], env);
    expect(status.stdout).toContain(`queue ${queue}: 1 waiting`);
  });

  it('purges on "y", by default the app\'s default queue and its tasks\' queues', async () => {
    const { env } = sqliteEnv('yes');
    await runToEnd(['-A', APP, 'call', 'cli.add', '-a', '[1, 2]'], env);
    await runToEnd(['-A', APP, 'call', 'cli.other'], env);
    const purge = await runToEnd(['-A', APP, 'purge'], env, 'y\n');
    expect(purge.stderr).toContain(
      'Delete every waiting task in celery (1 waiting), cli-other (1 waiting)?',
    );
    expect(purge.stdout).toBe(
      'celery: 1 message purged\ncli-other: 1 message purged\nPurged 2 messages from 2 queues.\n',
    );
    expect(purge.code).toBe(0);
  });
});

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
