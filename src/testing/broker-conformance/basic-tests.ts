/**
 * Conformance: the plain paths of a broker: a published message reaches a consumer
 * intact, an ack removes it, several queues are served, publishMany, purge, queueLength
 * and cancel. Must stay broker-neutral (only the `Broker` contract).
 */
import { expect, it } from 'vitest';
import { idOf, makeMessage, sleep, type BrokerHarnessFactory } from './harness.js';
import { openSession } from './session.js';

export function basicTests(make: BrokerHarnessFactory): void {
  it('delivers a published message intact to a consumer that started later', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('intact');
    const sent = makeMessage(undefined, 42);
    sent.headers.custom = { nested: [1, 'two', null] };
    await s.broker.publish(sent, { queue });
    const { inbox } = await s.consume([queue], 1);
    const [delivery] = await inbox.waitCount(1);
    expect(delivery!.queue).toBe(queue);
    expect(delivery!.redelivered).toBe(false);
    expect(delivery!.message.body.equals(sent.body)).toBe(true);
    expect(delivery!.message.contentType).toBe('application/json');
    expect(delivery!.message.contentEncoding).toBe('utf-8');
    expect(delivery!.message.headers).toMatchObject(sent.headers);
    expect(delivery!.message.properties.correlation_id).toBe(sent.properties.correlation_id);
    expect(delivery!.message.properties.reply_to).toBe('conformance-reply');
    await delivery!.ack();
  });

  it('wakes an idle consumer when a message is published', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('wake');
    const { inbox } = await s.consume([queue], 4);
    await sleep(200);
    const sentAt = Date.now();
    await s.broker.publish(makeMessage(), { queue });
    const [delivery] = await inbox.waitCount(1, 3000);
    expect(inbox.deliveries[0]!.at - sentAt).toBeLessThan(1000);
    await delivery!.ack();
  });

  it('drops an acked message for good', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('ack');
    await s.broker.publish(makeMessage('acked-1'), { queue });
    const first = await s.consume([queue], 1);
    const [delivery] = await first.inbox.waitCount(1);
    await delivery!.ack();
    await first.consumer.cancel();
    const second = await s.consume([queue], 1);
    await sleep(500);
    expect(second.inbox.ids).toEqual([]);
    expect(await s.broker.queueLength(queue)).toBe(0);
  });

  it('serves every queue a consumer names and reports each delivery’s queue', async (ctx) => {
    const s = await openSession(ctx, make);
    const [a, b] = [s.queue('multi-a'), s.queue('multi-b')];
    await s.broker.publish(makeMessage('in-a'), { queue: a });
    await s.broker.publish(makeMessage('in-b'), { queue: b });
    const { inbox } = await s.consume([a, b], 4);
    const deliveries = await inbox.waitCount(2);
    const byId = Object.fromEntries(deliveries.map((d) => [idOf(d), d.queue]));
    expect(byId).toEqual({ 'in-a': a, 'in-b': b });
    await Promise.all(deliveries.map((d) => d.ack()));
  });

  it('does not deliver messages of a queue the consumer did not name', async (ctx) => {
    const s = await openSession(ctx, make);
    const [mine, other] = [s.queue('mine'), s.queue('other')];
    await s.broker.publish(makeMessage('not-mine'), { queue: other });
    const { inbox } = await s.consume([mine], 4);
    await sleep(300);
    expect(inbox.ids).toEqual([]);
    expect(await s.broker.queueLength(other)).toBe(1);
  });

  it('publishMany stores a batch across queues, each message delivered once', async (ctx) => {
    const s = await openSession(ctx, make);
    const [a, b] = [s.queue('many-a'), s.queue('many-b')];
    const batch = Array.from({ length: 200 }, (_, i) => ({
      message: makeMessage(`many-${i}`, i),
      options: { queue: i % 2 === 0 ? a : b },
    }));
    await s.broker.publishMany(batch);
    expect(await s.broker.queueLength(a)).toBe(100);
    expect(await s.broker.queueLength(b)).toBe(100);
    const { inbox } = await s.consume([a, b], 50);
    // Ack as they come so prefetch frees slots.
    const acked = new Set<string>();
    const deadline = Date.now() + 10_000;
    while (acked.size < 200 && Date.now() < deadline) {
      for (const { delivery } of inbox.deliveries) {
        const id = idOf(delivery);
        if (!acked.has(id)) {
          acked.add(id);
          await delivery.ack();
        }
      }
      await sleep(5);
    }
    expect(acked.size).toBe(200);
    expect(inbox.deliveries.length).toBe(200);
    await s.broker.publishMany([]);
  });

  it('counts only waiting messages in queueLength, not in-flight ones', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('length');
    expect(await s.broker.queueLength(queue)).toBe(0);
    for (let i = 0; i < 3; i++) await s.broker.publish(makeMessage(), { queue });
    expect(await s.broker.queueLength(queue)).toBe(3);
    const { inbox } = await s.consume([queue], 1);
    const [delivery] = await inbox.waitCount(1);
    expect(await s.broker.queueLength(queue)).toBe(2);
    await delivery!.ack();
  });

  it('purges a queue’s waiting messages, returns the count and leaves other queues alone', async (ctx) => {
    const s = await openSession(ctx, make);
    const [queue, other] = [s.queue('purge'), s.queue('keep')];
    for (let i = 0; i < 5; i++) await s.broker.publish(makeMessage(), { queue });
    await s.broker.publish(makeMessage('kept'), { queue: other });
    expect(await s.broker.purge(queue)).toBe(5);
    expect(await s.broker.queueLength(queue)).toBe(0);
    expect(await s.broker.queueLength(other)).toBe(1);
    expect(await s.broker.purge(queue)).toBe(0);
  });

  it('stops delivering after cancel, while a held delivery can still be acked', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('cancel');
    await s.broker.publish(makeMessage('held'), { queue });
    const { inbox, consumer } = await s.consume([queue], 1);
    const [held] = await inbox.waitCount(1);
    await consumer.cancel();
    await s.broker.publish(makeMessage('after-cancel'), { queue });
    await sleep(300);
    expect(inbox.ids).toEqual(['held']);
    await held!.ack();
    expect(await s.broker.queueLength(queue)).toBe(1);
  });

  it('shares a queue between two consumers without delivering a message twice', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('compete');
    const first = await s.consume([queue], 10);
    const second = await s.consume([queue], 10);
    const ids = Array.from({ length: 100 }, (_, i) => `compete-${i}`);
    await s.broker.publishMany(ids.map((id) => ({ message: makeMessage(id), options: { queue } })));
    const seen: string[] = [];
    const deadline = Date.now() + 10_000;
    const settled = new Set<object>();
    while (seen.length < 100 && Date.now() < deadline) {
      for (const { delivery } of [...first.inbox.deliveries, ...second.inbox.deliveries]) {
        if (settled.has(delivery)) continue;
        settled.add(delivery);
        seen.push(idOf(delivery));
        await delivery.ack();
      }
      await sleep(5);
    }
    await sleep(200);
    expect(first.inbox.deliveries.length + second.inbox.deliveries.length).toBe(100);
    expect(new Set(seen)).toEqual(new Set(ids));
  });
}
