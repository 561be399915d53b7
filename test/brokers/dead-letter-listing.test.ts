/**
 * The broker contract's dead letters on every broker that keeps them: SQLite, Redis,
 * PostgreSQL and RabbitMQ (with `deadLetter`). Messages rejected without requeue are
 * listed (task id, reason, time, stable ids; listing leaves them in place), redriven back
 * to their queue each at most once (also when two redrives race), and the redriven
 * message is delivered again. Each broker has its own SQLite file, Redis key prefix,
 * PostgreSQL schema or RabbitMQ vhost, removed afterwards. RabbitMQ without `deadLetter`
 * offers no listing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import type { Broker, Delivery } from '../../src/brokers/broker.js';
import { AMQP_URL, REDIS_URL, requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { createVhost, requireVhosts } from '../support/rabbitmq-vhost.js';

type Kind = 'sqlite' | 'redis' | 'postgres' | 'amqp';

async function openApp(kind: Kind, test: TestContext): Promise<Celeriac> {
  let app: Celeriac;
  if (kind === 'postgres') {
    await requireService(test, 'postgres');
    const pg = testSchema('deadletterlist');
    app = new Celeriac({ broker: pg.url, backend: pg.url });
    test.onTestFinished(() => pg.drop());
  } else if (kind === 'redis') {
    await requireService(test, 'redis');
    const keyPrefix = `celeriac-test:${randomUUID()}:`;
    app = new Celeriac({ broker: REDIS_URL, backend: REDIS_URL, keyPrefix });
    test.onTestFinished(() => deleteRedisPrefix(keyPrefix));
  } else if (kind === 'amqp') {
    await requireVhosts(test);
    const vhost = await createVhost('deadletters');
    app = new Celeriac({ broker: `${vhost.url}?deadLetter=true` });
    test.onTestFinished(() => vhost.dispose());
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-deadlist-'));
    app = new Celeriac({ broker: `sqlite://${path.join(dir, 'broker.db')}` });
    test.onTestFinished(() => rm(dir, { recursive: true, force: true }));
  }
  test.onTestFinished(() => app.close());
  return app;
}

/** Takes `count` deliveries of `queue`, then stops consuming. */
async function take(broker: Broker, queue: string, count: number): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const consumer = await broker.consume({
    queues: [queue],
    prefetch: count,
    onDelivery: (delivery) => void got.push(delivery),
  });
  await vi.waitFor(() => expect(got.length).toBe(count), { timeout: 15_000 });
  await consumer.cancel();
  return got;
}

describe.each(['sqlite', 'redis', 'postgres', 'amqp'] as const)('dead letters on %s', (kind) => {
  it('lists them in place, redrives each at most once, and the redriven one runs again', async (test) => {
    const app = await openApp(kind, test);
    const broker = await app.broker();
    expect(typeof broker.listDeadLetters).toBe('function');
    const queue = `dead-${randomUUID().slice(0, 8)}`;
    const before = Date.now();
    const sent: Array<{ id: string }> = [];
    for (const n of [1, 2, 3]) sent.push(await app.sendTask('shop.unknown', [n], { queue }));
    const deliveries = await take(broker, queue, 3);
    const byId = new Map(deliveries.map((d) => [d.message.headers.id as string, d]));
    await byId.get(sent[0]!.id)!.reject({ requeue: false, reason: 'NotRegistered: shop.unknown' });
    await byId.get(sent[1]!.id)!.reject({ requeue: false, reason: 'bad body' });
    await byId.get(sent[2]!.id)!.ack();

    const letters = await vi.waitFor(
      async () => {
        const found = await broker.listDeadLetters!(queue, 10);
        expect(found).toHaveLength(2);
        return found;
      },
      { timeout: 10_000 },
    );
    const taskOf = (letter: (typeof letters)[number]) => letter.message?.headers.id;
    expect(letters.map(taskOf).sort()).toEqual([sent[0]!.id, sent[1]!.id].sort());
    const first = letters.find((l) => taskOf(l) === sent[0]!.id)!;
    const second = letters.find((l) => taskOf(l) === sent[1]!.id)!;
    expect(first.reason).toContain('NotRegistered');
    expect(second.reason).toContain('bad body');
    expect(first.queue).toBe(queue);
    expect(first.deadAt).toBeGreaterThanOrEqual(before - 1000);
    expect(first.deadAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(first.id).not.toBe(second.id);
    // Listing leaves them where they are, under the same ids; the limit holds.
    const again = await broker.listDeadLetters!(queue, 10);
    expect(again.map((l) => l.id).sort()).toEqual([first.id, second.id].sort());
    expect(await broker.listDeadLetters!(queue, 1)).toHaveLength(1);
    expect(await broker.queueLength(queue)).toBe(0);

    // Redrive one: it leaves the dead letters, goes back to its queue, and runs again.
    expect(await broker.redriveDeadLetters!(queue, [first.id])).toBe(1);
    expect((await broker.listDeadLetters!(queue, 10)).map((l) => l.id)).toEqual([second.id]);
    expect(await broker.queueLength(queue)).toBe(1);
    expect(await broker.redriveDeadLetters!(queue, [first.id])).toBe(0);
    const [back] = await take(broker, queue, 1);
    expect(back!.message.headers.id).toBe(sent[0]!.id);
    expect(back!.message.body.equals(byId.get(sent[0]!.id)!.message.body)).toBe(true);
    await back!.ack();

    // Two redrives racing for the same letter move it once.
    const raced = await Promise.all([
      broker.redriveDeadLetters!(queue, [second.id]),
      broker.redriveDeadLetters!(queue, [second.id]),
    ]);
    expect(raced.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await broker.listDeadLetters!(queue, 10)).toEqual([]);
    expect(await broker.queueLength(queue)).toBe(1);
    await broker.purge(queue);
  });
});

describe('dead letters on amqp without deadLetter', () => {
  it('offers no listing (RabbitMQ drops rejected messages)', async (test) => {
    await requireService(test, 'rabbitmq');
    const app = new Celeriac({ broker: AMQP_URL });
    test.onTestFinished(() => app.close());
    const broker = await app.broker();
    expect(broker.listDeadLetters === undefined).toBe(true);
    expect(broker.redriveDeadLetters === undefined).toBe(true);
  });
});
