/**
 * `Broker.oldestMessageAt` on the brokers that keep a publish time (SQLite, PostgreSQL):
 * null for an empty queue, the publish time of the oldest waiting message, a delayed
 * message not yet due left out (as queueLength leaves it out), null again once the
 * message is taken and acknowledged. Each test has its own SQLite file or schema.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import type { Broker } from '../../src/brokers/broker.js';
import { PostgresBroker } from '../../src/brokers/postgres/index.js';
import { SqliteBroker } from '../../src/brokers/sqlite/index.js';
import { Inbox, makeMessage, sleep } from '../../src/testing/broker-conformance.js';
import { requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';

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
