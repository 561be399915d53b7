/**
 * The broker contract's broadcasting, on Redis (own key prefix), RabbitMQ (own vhost),
 * SQLite (own file; two broker instances on it, as two processes would be), PostgreSQL (own
 * schema; LISTEN/NOTIFY, a large message through its table) and memory: a fanout reaches every listener, a topic listener gets only what its binding key
 * matches, a direct message reaches only the queue bound with its routing key, and a closed
 * listener hears nothing more. On Redis the layout is kombu's: the channel Python's
 * workers subscribe to, and a reply queue's binding member and list removed at close.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, BroadcastQueueSpec, ExchangeSpec } from '../../../src/brokers/broker.js';
import { RedisBroker } from '../../../src/brokers/redis/broker.js';
import { AmqpBroker } from '../../../src/brokers/amqp/amqp-broker.js';
import { MemoryBroker } from '../../../src/brokers/memory/memory-broker.js';
import { SqliteBroker } from '../../../src/brokers/sqlite/sqlite-broker.js';
import { PostgresBroker } from '../../../src/brokers/postgres/postgres-broker.js';
import { removeDb, tempDbPath } from '../sqlite/temp-db.js';
import { topicMatches } from '../../../src/brokers/exchange-routing.js';
import type { TransportMessage } from '../../../src/protocol/types.js';
import { REDIS_URL, requireService } from '../../support/services.js';
import { deleteRedisPrefix } from '../../support/redis-cleanup.js';
import { createVhost, type TestVhost } from '../../support/rabbitmq-vhost.js';
import { rawClient } from '../redis/redis-test-support.js';
import { testSchema } from '../../support/postgres.js';

const PIDBOX: ExchangeSpec = { name: 'celery.pidbox', type: 'fanout', durable: false };
const REPLY: ExchangeSpec = { name: 'reply.celery.pidbox', type: 'direct', durable: false };
const EVENTS: ExchangeSpec = { name: 'celeryev', type: 'topic', durable: true };

function message(text: string): TransportMessage {
  return {
    body: Buffer.from(JSON.stringify({ text })),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { clock: 1 },
    properties: { delivery_mode: 1, priority: 0 },
  };
}
const textOf = (m: TransportMessage) => (JSON.parse(m.body.toString()) as { text: string }).text;

class Inbox {
  readonly texts: string[] = [];
  add = (m: TransportMessage): void => void this.texts.push(textOf(m));
  async waitFor(count: number, ms = 10_000): Promise<string[]> {
    const until = Date.now() + ms;
    while (this.texts.length < count && Date.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 10));
    return this.texts;
  }
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 250));

function spec(name: string, exchange: ExchangeSpec, bindingKey: string): BroadcastQueueSpec {
  return { name, exchange, bindingKey, messageTtlMs: 300_000, expiresMs: 10_000 };
}

function contract(
  label: string,
  open: () => Promise<Broker>,
  service?: 'redis' | 'rabbitmq' | 'postgres',
) {
  describe(`broadcasting on ${label}`, () => {
    it('fans out to every listener, routes topics by binding key and replies by routing key', async (ctx) => {
      if (service) await requireService(ctx, service);
      const broker = await open();
      const sender = await open();
      try {
        const bus = broker.broadcasting!;
        const [a, b, workers, all, mine, other] = [1, 2, 3, 4, 5, 6].map(() => new Inbox()) as [
          Inbox,
          Inbox,
          Inbox,
          Inbox,
          Inbox,
          Inbox,
        ];
        const id = randomUUID().slice(0, 8);
        const listeners = [
          await bus.listen(spec(`a-${id}.celery.pidbox`, PIDBOX, ''), a.add),
          await bus.listen(spec(`b-${id}.celery.pidbox`, PIDBOX, ''), b.add),
          await bus.listen(spec(`celeryev.w-${id}`, EVENTS, 'worker.#'), workers.add),
          await bus.listen(spec(`celeryev.all-${id}`, EVENTS, '#'), all.add),
          await bus.listen(spec(`mine-${id}.reply.celery.pidbox`, REPLY, `mine-${id}`), mine.add),
          await bus.listen(
            spec(`other-${id}.reply.celery.pidbox`, REPLY, `other-${id}`),
            other.add,
          ),
        ];
        await sender.broadcasting!.send(PIDBOX, '', message('ping'));
        await sender.broadcasting!.send(EVENTS, 'worker.heartbeat', message('beat'));
        await sender.broadcasting!.send(EVENTS, 'task.multi', message('tasks'));
        await sender.broadcasting!.send(REPLY, `mine-${id}`, message('pong'));
        expect(await a.waitFor(1)).toEqual(['ping']);
        expect(await b.waitFor(1)).toEqual(['ping']);
        expect(await all.waitFor(2)).toEqual(['beat', 'tasks']);
        expect(await mine.waitFor(1)).toEqual(['pong']);
        await settle();
        expect(workers.texts).toEqual(['beat']);
        expect(other.texts).toEqual([]);
        for (const listener of listeners) await listener.close();
        await sender.broadcasting!.send(PIDBOX, '', message('late'));
        await sender.broadcasting!.send(REPLY, `mine-${id}`, message('late'));
        await settle();
        expect(a.texts).toEqual(['ping']);
        expect(mine.texts).toEqual(['pong']);
      } finally {
        await broker.close();
        await sender.close();
      }
    });
  });
}

const redisPrefix = `t-bcast-${randomUUID().slice(0, 8)}:`;
contract(
  'Redis',
  () => Promise.resolve(new RedisBroker(`${REDIS_URL}/0?keyPrefix=${redisPrefix}`)),
  'redis',
);

let vhost: TestVhost | undefined;
contract(
  'RabbitMQ',
  async () => {
    vhost ??= await createVhost('bcast');
    return new AmqpBroker(vhost.url);
  },
  'rabbitmq',
);
afterAll(async () => {
  await vhost?.dispose();
  await deleteRedisPrefix(redisPrefix).catch(() => undefined);
});

const memoryStore = `bcast-${randomUUID()}`;
contract('memory', async () => {
  const broker = new MemoryBroker(memoryStore);
  await broker.connect();
  return broker;
});

const sqliteFile = tempDbPath('bcast');
contract('SQLite', () => Promise.resolve(new SqliteBroker(`sqlite://${sqliteFile}`)));
afterAll(() => removeDb(sqliteFile));

describe('the broadcast log on SQLite', () => {
  const file = tempDbPath('bcast-log');
  afterAll(() => removeDb(file));

  it('hands a listener only what was sent after it listened and within its message TTL, and prunes old rows', async () => {
    const listening = new SqliteBroker(`sqlite://${file}`);
    const sender = new SqliteBroker(`sqlite://${file}`);
    try {
      await sender.broadcasting.send(PIDBOX, '', message('before'));
      const inbox = new Inbox();
      const short = new Inbox();
      const id = randomUUID().slice(0, 8);
      await listening.broadcasting.listen(spec(`a-${id}.celery.pidbox`, PIDBOX, ''), inbox.add);
      await listening.broadcasting.listen(
        { ...spec(`b-${id}.celery.pidbox`, PIDBOX, ''), messageTtlMs: 1 },
        short.add,
      );
      // Sent 50 ms in the past by the row's clock: older than the 1 ms TTL when read.
      const realNow = Date.now;
      Date.now = () => realNow() - 50;
      try {
        await sender.broadcasting.send(PIDBOX, '', message('after'));
      } finally {
        Date.now = realNow;
      }
      expect(await inbox.waitFor(1)).toEqual(['after']);
      await settle();
      expect(inbox.texts).toEqual(['after']);
      expect(short.texts).toEqual([]);
    } finally {
      await listening.close();
      await sender.close();
    }
    const db = new (await import('better-sqlite3')).default(file);
    try {
      const count = () =>
        (db.prepare('SELECT COUNT(*) AS n FROM celeriac_broadcasts').get() as { n: number }).n;
      expect(count()).toBe(2);
      // A send a minute later drops the rows older than the retention.
      const later = new SqliteBroker(`sqlite://${file}`);
      const realNow = Date.now;
      Date.now = () => realNow() + 61_000;
      try {
        await later.broadcasting.send(PIDBOX, '', message('later'));
      } finally {
        Date.now = realNow;
        await later.close();
      }
      expect(count()).toBe(1);
    } finally {
      db.close();
    }
  });
});

describe('kombu layout on Redis', () => {
  const prefix = `t-bcast-layout-${randomUUID().slice(0, 8)}:`;
  let broker: RedisBroker;
  beforeAll(() => {
    broker = new RedisBroker(`${REDIS_URL}/3?keyPrefix=${prefix}`);
  });
  afterAll(async () => {
    await broker.close();
    await deleteRedisPrefix(prefix, `${REDIS_URL}/3`);
  });

  it('publishes on the channel Python workers subscribe to, and keeps reply queues in kombu binding sets', async (ctx) => {
    await requireService(ctx, 'redis');
    const raw = rawClient(`${REDIS_URL}/3`);
    const seen: Array<[string, string]> = [];
    raw.on('pmessage', (_p: string, channel: string, data: string) => seen.push([channel, data]));
    await raw.psubscribe(`${prefix}/3.celery.pidbox`, `${prefix}/3.celeryev/*`);
    try {
      await broker.broadcasting.send(PIDBOX, '', message('ping'));
      await broker.broadcasting.send(EVENTS, 'worker.online', message('online'));
      const until = Date.now() + 3000;
      while (seen.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(seen.map(([channel]) => channel)).toEqual([
        `${prefix}/3.celery.pidbox`,
        `${prefix}/3.celeryev/worker.online`,
      ]);
      const envelope = JSON.parse(seen[0]![1]) as Record<string, unknown>;
      expect(Object.keys(envelope)).toEqual([
        'body',
        'content-encoding',
        'content-type',
        'headers',
        'properties',
      ]);
    } finally {
      raw.disconnect();
    }

    const admin = rawClient(`${REDIS_URL}/3`);
    try {
      const listener = await broker.broadcasting.listen(
        spec('oid1.reply.celery.pidbox', REPLY, 'oid1'),
        () => undefined,
      );
      expect(await admin.smembers(`${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual([
        'oid1\x06\x16\x06\x16oid1.reply.celery.pidbox',
      ]);
      await listener.close();
      expect(await admin.exists(`${prefix}_kombu.binding.reply.celery.pidbox`)).toBe(0);
      expect(await admin.exists(`${prefix}oid1.reply.celery.pidbox`)).toBe(0);
    } finally {
      admin.disconnect();
    }
  });
});

const pgSchema = testSchema('bcast');
contract('PostgreSQL', () => Promise.resolve(new PostgresBroker(pgSchema.url)), 'postgres');
afterAll(() => pgSchema.drop());

describe('LISTEN/NOTIFY broadcasting on PostgreSQL', () => {
  const world = testSchema('bcast_big');
  afterAll(() => world.drop());

  it('carries a message larger than a NOTIFY through the broadcasts table, in order, read only by a matching listener, and prunes old rows', async (ctx) => {
    await requireService(ctx, 'postgres');
    const listening = new PostgresBroker(world.url);
    const elsewhere = new PostgresBroker(world.url);
    const sender = new PostgresBroker(world.url);
    const otherSchema = testSchema('bcast_other');
    const foreign = new PostgresBroker(otherSchema.url);
    try {
      const id = randomUUID().slice(0, 8);
      const replies = new Inbox();
      const unrelated = new Inbox();
      const foreignInbox = new Inbox();
      await listening.broadcasting.listen(
        spec(`c-${id}.reply.celery.pidbox`, REPLY, `c-${id}`),
        replies.add,
      );
      await elsewhere.broadcasting.listen(
        spec(`d-${id}.reply.celery.pidbox`, REPLY, `d-${id}`),
        unrelated.add,
      );
      await foreign.broadcasting.listen(
        spec(`c-${id}.reply.celery.pidbox`, REPLY, `c-${id}`),
        foreignInbox.add,
      );
      const big = 'x'.repeat(20_000);
      await sender.broadcasting.send(REPLY, `c-${id}`, message('small-1'));
      await sender.broadcasting.send(REPLY, `c-${id}`, message(big));
      await sender.broadcasting.send(REPLY, `c-${id}`, message('small-2'));
      expect(await replies.waitFor(3)).toEqual(['small-1', big, 'small-2']);
      await settle();
      expect(unrelated.texts).toEqual([]);
      expect(foreignInbox.texts).toEqual([]);

      const admin = await world.client();
      const table = `"${world.schema}".broadcasts`;
      const rows = async () =>
        (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
      // Only the large message took a row.
      expect(await rows()).toBe(1);
      await admin.query(`UPDATE ${table} SET sent_at = sent_at - 120000`);
      // The next large send (from a fresh sender, so not within its last second) prunes it.
      const pruner = new PostgresBroker(world.url);
      try {
        await pruner.broadcasting.send(REPLY, `c-${id}`, message(big));
      } finally {
        await pruner.close();
      }
      expect(await replies.waitFor(4)).toHaveLength(4);
      expect(await rows()).toBe(1);
    } finally {
      await listening.close();
      await elsewhere.close();
      await sender.close();
      await foreign.close();
      await otherSchema.drop();
    }
  });
});

describe('topic matching (brokers that route themselves: memory, SQLite)', () => {
  it('matches as AMQP does', () => {
    const m = (p: string, k: string) => topicMatches(p.split('.'), k.split('.'));
    expect(m('#', 'task.sent')).toBe(true);
    expect(m('worker.#', 'worker.heartbeat')).toBe(true);
    expect(m('worker.#', 'task.multi')).toBe(false);
    expect(m('task.*', 'task.multi')).toBe(true);
    expect(m('task.*', 'task.a.b')).toBe(false);
    expect(m('#.b', 'a.b')).toBe(true);
  });
});
