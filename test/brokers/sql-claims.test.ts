/**
 * How the SQL brokers' claim picks rows when a consumer reads several queues: the best rows
 * of all of them by priority, then age, up to the free prefetch slots, in one claim; and
 * a backlog far larger than the prefetch is drained in order, each message once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Inbox, makeMessage } from '../../src/testing/broker-conformance.js';
import { targets } from './sql-targets.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe.each(Object.keys(targets))('claims on %s', (kind) => {
  it('takes the best rows across the consumer’s queues by priority, then age', async (ctx) => {
    const target = await targets[kind]!(ctx);
    cleanups.push(() => target.cleanup());
    const broker = target.open(30_000);
    cleanups.push(() => broker.close());
    await broker.connect();
    const publish = (id: string, queue: string, priority: number) =>
      broker.publish(makeMessage(id), { queue, priority });
    await publish('a-low-1', 'a', 0);
    await publish('b-mid-1', 'b', 5);
    await publish('a-low-2', 'a', 0);
    await publish('a-top', 'a', 9);
    await publish('b-mid-2', 'b', 5);
    await publish('c-top', 'c', 9); // not consumed
    const inbox = new Inbox();
    const consumer = await broker.consume({
      queues: ['a', 'b'],
      prefetch: 3,
      onDelivery: inbox.onDelivery,
    });
    cleanups.push(() => consumer.cancel());
    const first = await inbox.waitCount(3, 5000);
    expect(first.map((d) => d.message.headers.id)).toEqual(['a-top', 'b-mid-1', 'b-mid-2']);
    for (const delivery of first) await delivery.ack();
    const rest = (await inbox.waitCount(5, 5000)).slice(3);
    expect(rest.map((d) => d.message.headers.id)).toEqual(['a-low-1', 'a-low-2']);
    for (const delivery of rest) await delivery.ack();
    expect(await broker.queueLength('c')).toBe(1);
  });

  it('drains a backlog far larger than the prefetch in order, each message once', async (ctx) => {
    const target = await targets[kind]!(ctx);
    cleanups.push(() => target.cleanup());
    const broker = target.open(30_000);
    cleanups.push(() => broker.close());
    await broker.connect();
    const ids = Array.from({ length: 2000 }, (_, i) => `m${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 500)
      await broker.publishMany(
        ids.slice(i, i + 500).map((id) => ({ message: makeMessage(id), options: { queue: 'q' } })),
      );
    const seen: string[] = [];
    const consumer = await broker.consume({
      queues: ['q'],
      prefetch: 7,
      onDelivery: (delivery) => {
        seen.push(delivery.message.headers.id as string);
        void delivery.ack();
      },
    });
    cleanups.push(() => consumer.cancel());
    const deadline = Date.now() + 60_000;
    while (seen.length < ids.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual(ids);
  });
});
