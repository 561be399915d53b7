/**
 * Conformance: time and order: `publish({ deliverAt })` and `defer` hold a message until
 * its time without occupying a consumer, and priorities serve higher first. Skipped with
 * the reason when the broker lacks the capability (the core emulates it then).
 * Must stay broker-neutral (only the `Broker` contract).
 */
import { expect, it } from 'vitest';
import { idOf, makeMessage, sleep, type BrokerHarnessFactory } from './harness.js';
import { openSession } from './session.js';

/** Brokers may round times to their clock; allow this much early. */
const EARLY_TOLERANCE_MS = 20;

export function scheduleTests(make: BrokerHarnessFactory): void {
  it('holds a message published with deliverAt until its time, without holding a prefetch slot', async (ctx) => {
    const s = await openSession(ctx, make);
    if (!s.broker.capabilities.delayedDelivery)
      ctx.skip('no native delayed delivery: the core emulates it');
    const queue = s.queue('deliverat');
    const deliverAt = Date.now() + 800;
    await s.broker.publish(makeMessage('later'), { queue, deliverAt });
    await s.broker.publish(makeMessage('now'), { queue });
    expect(await s.broker.queueLength(queue)).toBe(1);
    const { inbox } = await s.consume([queue], 1);
    const [now] = await inbox.waitCount(1);
    expect(idOf(now!)).toBe('now');
    await now!.ack();
    await sleep(deliverAt - Date.now() - 200);
    expect(inbox.ids).toEqual(['now']);
    const [, later] = await inbox.waitCount(2, 5000);
    expect(idOf(later!)).toBe('later');
    expect(inbox.deliveries[1]!.at).toBeGreaterThanOrEqual(deliverAt - EARLY_TOLERANCE_MS);
    await later!.ack();
  });

  it('defer frees the slot at once and delivers the message again at its new time', async (ctx) => {
    const s = await openSession(ctx, make);
    if (!s.broker.capabilities.delayedDelivery)
      ctx.skip('no native delayed delivery: the core emulates it');
    const queue = s.queue('defer');
    await s.broker.publish(makeMessage('deferred'), { queue });
    const { inbox } = await s.consume([queue], 1);
    const [first] = await inbox.waitCount(1);
    // Far enough off that a loaded machine still delivers the other message before it.
    const deliverAt = Date.now() + 1500;
    await first!.defer(deliverAt);
    await s.broker.publish(makeMessage('meanwhile'), { queue });
    const [, meanwhile] = await inbox.waitCount(2);
    expect(idOf(meanwhile!)).toBe('meanwhile');
    expect(inbox.deliveries[1]!.at).toBeLessThan(deliverAt);
    await meanwhile!.ack();
    expect(await s.broker.queueLength(queue)).toBe(0);
    const [, , again] = await inbox.waitCount(3, 5000);
    expect(idOf(again!)).toBe('deferred');
    expect(inbox.deliveries[2]!.at).toBeGreaterThanOrEqual(deliverAt - EARLY_TOLERANCE_MS);
    await again!.ack();
    await sleep(200);
    expect(inbox.deliveries.length).toBe(3);
  });

  it('delivers a deliverAt already past at once', async (ctx) => {
    const s = await openSession(ctx, make);
    if (!s.broker.capabilities.delayedDelivery)
      ctx.skip('no native delayed delivery: the core emulates it');
    const queue = s.queue('past');
    await s.broker.publish(makeMessage('past'), { queue, deliverAt: Date.now() - 60_000 });
    const { inbox } = await s.consume([queue], 1);
    const [delivery] = await inbox.waitCount(1, 2000);
    await delivery!.ack();
  });

  it('serves higher priorities first within a queue', async (ctx) => {
    const s = await openSession(ctx, make);
    if (s.harness.noPriorities) ctx.skip(s.harness.noPriorities);
    const queue = s.queue('priority');
    const order = [
      ['low-1', 0],
      ['high', 9],
      ['low-2', 0],
      ['mid', 5],
    ] as const;
    for (const [id, priority] of order)
      await s.broker.publish(makeMessage(id), { queue, priority });
    const { inbox } = await s.consume([queue], 1);
    for (let i = 1; i <= order.length; i++) {
      const deliveries = await inbox.waitCount(i);
      await deliveries[i - 1]!.ack();
    }
    expect(inbox.ids).toEqual(['high', 'mid', 'low-1', 'low-2']);
  });
}
