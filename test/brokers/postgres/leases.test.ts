/**
 * What only real processes show on the PostgreSQL broker: a consumer killed with SIGKILL
 * loses its message to another after the lease, flagged redelivered; a live consumer keeps
 * a message through many lease periods, so nothing runs twice while its lease is alive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import { Inbox, makeMessage, sleep } from '../../../src/testing/broker-conformance.js';
import { startChild } from '../sqlite/child.js';
import { requireService } from '../../support/services.js';
import { testSchema, type TestSchema } from '../../support/postgres.js';

const CONSUMER = 'test/brokers/postgres/fixtures/consumer.ts';

let pg: TestSchema | undefined;
const opened: PostgresBroker[] = [];

async function openBroker(url: string, leaseMs: number): Promise<PostgresBroker> {
  const broker = new PostgresBroker(url, { leaseMs });
  await broker.connect();
  opened.push(broker);
  return broker;
}

afterEach(async () => {
  for (const broker of opened.splice(0)) await broker.close();
  await pg?.drop();
  pg = undefined;
});

describe('PostgreSQL broker leases across processes', () => {
  it('redelivers, flagged, a message whose consumer was killed with SIGKILL, once its lease ends', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('kill');
    const leaseMs = 1000;
    const publisher = await openBroker(pg.url, leaseMs);
    const queue = 'killed';
    const victim = startChild(CONSUMER, { url: pg.url, queue, mode: 'hold', leaseMs });
    await victim.waitFor('ready', (events) => events.some((e) => e.event === 'ready'));
    await publisher.publish(makeMessage('precious'), { queue });
    await victim.waitFor('the delivery', (events) => events.some((e) => e.event === 'delivery'));
    // A rescuer listening all along: it must not get the message while the victim's lease lives.
    const rescuer = await openBroker(pg.url, leaseMs);
    const inbox = new Inbox();
    await rescuer.consume({ queues: [queue], prefetch: 1, onDelivery: inbox.onDelivery });
    await sleep(leaseMs * 2); // several heartbeats renewed the lease
    expect(inbox.ids).toEqual([]);
    victim.process.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    const [again] = await inbox.waitCount(1, leaseMs + 3000);
    expect(again!.message.headers.id).toBe('precious');
    expect(again!.redelivered).toBe(true);
    expect(again!.message.properties.delivery_info?.redelivered).toBe(true);
    expect(inbox.deliveries[0]!.at - killedAt).toBeLessThanOrEqual(leaseMs + 500);
    await again!.ack();
    expect(await publisher.queueLength(queue)).toBe(0);
  });

  it('keeps a message on its live consumer through many lease periods (heartbeat)', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('beat');
    const leaseMs = 300;
    const publisher = await openBroker(pg.url, leaseMs);
    const queue = 'long';
    const holder = startChild(CONSUMER, {
      url: pg.url,
      queue,
      mode: 'sleep',
      holdMs: 2400,
      leaseMs,
    });
    await holder.waitFor('ready', (events) => events.some((e) => e.event === 'ready'));
    await publisher.publish(makeMessage('long-task'), { queue });
    await holder.waitFor('the delivery', (events) => events.some((e) => e.event === 'delivery'));
    const competitor = await openBroker(pg.url, leaseMs);
    const inbox = new Inbox();
    await competitor.consume({ queues: [queue], prefetch: 1, onDelivery: inbox.onDelivery });
    await holder.waitFor(
      'the ack after eight lease periods',
      (events) => events.some((e) => e.event === 'acked'),
      10_000,
    );
    await sleep(leaseMs * 2);
    expect(inbox.ids).toEqual([]);
    expect(holder.events.filter((e) => e.event === 'error')).toEqual([]);
    expect(await publisher.queueLength(queue)).toBe(0);
  });
});
