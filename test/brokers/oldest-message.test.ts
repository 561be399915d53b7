/**
 * `Broker.oldestMessageAt` on the brokers that can tell (SQLite and PostgreSQL from their
 * publish time, Redis from its UUIDv7 delivery tags): null for an empty queue, the
 * publish time of the oldest waiting message, a delayed message not yet due left out (as
 * queueLength leaves it out), null again once the message is taken and acknowledged. On
 * Redis also: the oldest over the priority lists, and unknown with its reason when the
 * next message is one Python Celery sent (a uuid4 tag). AMQP cannot tell: the queues page
 * says unknown and why. Each test has its own SQLite file, schema, key prefix or queue.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import type { Broker } from '../../src/brokers/broker.js';
import { PostgresBroker } from '../../src/brokers/postgres/index.js';
import { SqliteBroker } from '../../src/brokers/sqlite/index.js';
import { Inbox, makeMessage, sleep } from '../../src/testing/broker-conformance.js';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { AMQP_URL, REDIS_URL, requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { RedisBroker } from '../../src/brokers/redis/index.js';
import { encodeWire } from '../../src/brokers/redis/wire.js';
import { uuidV7, uuidV7Time } from '../../src/protocol/uuid-v7.js';
import { Celeriac } from '../../src/index.js';
import { createDashboard } from '../../src/web/dashboard/index.js';
import { openAdmin } from './amqp/support.js';

async function openRedis(test: TestContext): Promise<{ broker: RedisBroker; prefix: string }> {
  await requireService(test, 'redis');
  const prefix = `celeriac-test:oldest-${randomUUID().slice(0, 8)}:`;
  const broker = new RedisBroker(REDIS_URL, { keyPrefix: prefix });
  test.onTestFinished(async () => {
    await broker.close();
    await deleteRedisPrefix(prefix);
  });
  return { broker, prefix };
}

const OPEN: Array<[string, (test: TestContext) => Promise<Broker>]> = [
  [
    'sqlite',
    async (test) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-oldest-'));
      const broker = new SqliteBroker(`sqlite://${path.join(dir, 'b.db')}`);
      test.onTestFinished(async () => {
        await broker.close();
        await rm(dir, { recursive: true, force: true });
      });
      return broker;
    },
  ],
  [
    'postgres',
    async (test) => {
      await requireService(test, 'postgres');
      const pg = testSchema('oldest');
      const broker = new PostgresBroker(pg.url);
      test.onTestFinished(async () => {
        await broker.close();
        await pg.drop();
      });
      return broker;
    },
  ],
  ['redis', async (test) => (await openRedis(test)).broker],
];

describe.each(OPEN)('oldestMessageAt on %s', (_kind, open) => {
  it('is the publish time of the oldest waiting message, null when none waits', async (test) => {
    const broker = await open(test);
    await broker.connect();
    expect(await broker.oldestMessageAt!('q')).toBeNull();
    await broker.publish(makeMessage('later'), { queue: 'q', deliverAt: Date.now() + 60_000 });
    expect(await broker.oldestMessageAt!('q')).toBeNull();
    const before = Date.now();
    await broker.publish(makeMessage('first'), { queue: 'q' });
    const after = Date.now();
    await sleep(20);
    await broker.publish(makeMessage('second'), { queue: 'q' });
    const oldest = await broker.oldestMessageAt!('q');
    expect(oldest).toBeGreaterThanOrEqual(before);
    expect(oldest).toBeLessThanOrEqual(after);
    const inbox = new Inbox();
    const consumer = await broker.consume({
      queues: ['q'],
      prefetch: 2,
      onDelivery: inbox.onDelivery,
    });
    for (const delivery of await inbox.waitCount(2, 10_000)) await delivery.ack();
    await consumer.cancel();
    expect(await broker.oldestMessageAt!('q')).toBeNull();
  });
});

describe('oldestMessageAt on Redis, from UUIDv7 delivery tags', () => {
  it('reads the time back from a UUIDv7 and none from a uuid4', () => {
    const at = Date.UTC(2026, 11, 7, 23, 0, 0, 123);
    expect(uuidV7Time(uuidV7(at))).toBe(at);
    expect(uuidV7(at)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(uuidV7Time(randomUUID())).toBeUndefined();
  });

  it('is the oldest over the priority lists', async (test) => {
    const { broker } = await openRedis(test);
    await broker.connect();
    const before = Date.now();
    await broker.publish(makeMessage('low'), { queue: 'q', priority: 0 });
    await sleep(30);
    const later = Date.now();
    await broker.publish(makeMessage('high'), { queue: 'q', priority: 9 });
    const oldest = (await broker.oldestMessageAt('q')) as number;
    expect(oldest).toBeGreaterThanOrEqual(before);
    expect(oldest).toBeLessThan(later);
  });

  it('is unknown, with the reason, when the next message is one Python Celery sent', async (test) => {
    const { broker, prefix } = await openRedis(test);
    await broker.connect();
    const raw = new Redis(REDIS_URL);
    test.onTestFinished(() => raw.disconnect());
    // Celery's LPUSH of its envelope, with kombu's uuid4 delivery tag.
    await raw.lpush(
      `${prefix}q`,
      encodeWire(makeMessage('from-python'), randomUUID(), {
        exchange: '',
        routingKey: 'q',
        kombuPriority: 0,
      }),
    );
    await broker.publish(makeMessage('ours'), { queue: 'q' });
    const oldest = await broker.oldestMessageAt('q');
    expect(oldest).toHaveProperty('unknown');
    expect((oldest as { unknown: string }).unknown).toMatch(/Python Celery/);
    // Once the Python message is taken, the next one is ours: known again.
    await raw.rpop(`${prefix}q`);
    expect(typeof (await broker.oldestMessageAt('q'))).toBe('number');
  });
});

describe('oldest message on the queues page', () => {
  const page = async (app: Celeriac, queue: string) => {
    const dashboard = createDashboard(app, { readOnly: true, queues: [queue] });
    const response = (await dashboard(new Request('http://x/dashboard/queues')))!;
    expect(response.status).toBe(200);
    const text = await response.text();
    const row = new RegExp(`<tr data-queue="${queue}">([\\s\\S]*?)</tr>`).exec(text);
    expect(row, text).not.toBeNull();
    const cells = [...row![1]!.matchAll(/<td>\s*([\s\S]*?)\s*<\/td>/g)];
    return cells[3]![1]!
      .replace(/<[^>]+>/g, '')
      .replace(/\s+/g, ' ')
      .trim();
  };

  it('shows the age on Redis', async (test) => {
    await requireService(test, 'redis');
    const prefix = `celeriac-test:oldest-page-${randomUUID().slice(0, 8)}:`;
    const app = new Celeriac({ broker: REDIS_URL, keyPrefix: prefix });
    test.onTestFinished(async () => {
      await app.close();
      await deleteRedisPrefix(prefix);
    });
    await (await app.broker()).publish(makeMessage('waiting'), { queue: 'q' });
    await sleep(1100);
    expect(await page(app, 'q')).toMatch(/^\d+ s$/);
  });

  it('says unknown and why on AMQP', async (test) => {
    await requireService(test, 'rabbitmq');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-oldest-amqp-'));
    const queue = `celeriac-test-oldest-${randomUUID().slice(0, 8)}`;
    const app = new Celeriac({ broker: AMQP_URL, backend: `sqlite://${path.join(dir, 'r.db')}` });
    test.onTestFinished(async () => {
      await app.close();
      const admin = await openAdmin();
      await admin.remove({ queues: [queue] });
      await admin.close();
      await rm(dir, { recursive: true, force: true });
    });
    const broker = await app.broker();
    expect('oldestMessageAt' in broker).toBe(false);
    await broker.publish(makeMessage('waiting'), { queue });
    expect(await page(app, queue)).toMatch(
      /^unknown \(RabbitMQ tells how many messages wait, not when the oldest was published\)$/,
    );
  });
});
