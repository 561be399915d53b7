/**
 * Conformance: how deliveries are held and settled: prefetch bounds what a consumer
 * holds, reject with and without requeue, redelivery after a consumer's broker closes
 * without acking, and a malformed message that must not stop consumption.
 * Must stay broker-neutral (only the `Broker` contract and the optional harness hooks).
 */
import { expect, it } from 'vitest';
import { idOf, makeMessage, sleep, waitFor, type BrokerHarnessFactory } from './harness.js';
import { openSession } from './session.js';

export function settleTests(make: BrokerHarnessFactory): void {
  it('never holds more unsettled deliveries than the prefetch, and refills as they settle', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('prefetch');
    await s.broker.publishMany(
      Array.from({ length: 10 }, (_, i) => ({
        message: makeMessage(`p-${i}`),
        options: { queue },
      })),
    );
    const { inbox } = await s.consume([queue], 3);
    await inbox.waitCount(3);
    await sleep(300);
    expect(inbox.deliveries.length).toBe(3);
    await inbox.deliveries[0]!.delivery.ack();
    await inbox.waitCount(4);
    await sleep(200);
    expect(inbox.deliveries.length).toBe(4);
    let next = 1;
    while (next < 10) {
      await inbox.waitCount(next + 1);
      await inbox.deliveries[next]!.delivery.ack();
      next += 1;
    }
    expect(inbox.maxHeld).toBeLessThanOrEqual(3);
    expect(new Set(inbox.ids).size).toBe(10);
  });

  it('release frees a prefetch slot before the settle, and the released delivery can still be acked', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('release');
    await s.broker.publishMany(
      Array.from({ length: 3 }, (_, i) => ({ message: makeMessage(`r-${i}`), options: { queue } })),
    );
    const { inbox } = await s.consume([queue], 1);
    await inbox.waitCount(1);
    const first = inbox.deliveries[0]!.delivery;
    if (s.harness.releaseFreesNoSlot) {
      ctx.skip(s.harness.releaseFreesNoSlot);
      return;
    }
    await sleep(200);
    expect(inbox.deliveries.length).toBe(1);
    first.release();
    first.release(); // a second call must not free a second slot
    await inbox.waitCount(2);
    await sleep(200);
    expect(inbox.deliveries.length).toBe(2);
    // Settling the released delivery frees nothing more; settling the second frees the third's slot.
    await first.ack();
    await sleep(200);
    expect(inbox.deliveries.length).toBe(2);
    await inbox.deliveries[1]!.delivery.ack();
    await inbox.waitCount(3);
    await inbox.deliveries[2]!.delivery.ack();
    await sleep(100);
    expect(await s.broker.queueLength(queue)).toBe(0);
    expect(new Set(inbox.ids).size).toBe(3);
  });

  it('reject with requeue delivers the message again, flagged redelivered', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('requeue');
    await s.broker.publish(makeMessage('again'), { queue });
    const { inbox } = await s.consume([queue], 1);
    const [first] = await inbox.waitCount(1);
    await first!.reject({ requeue: true, reason: 'conformance: try again' });
    const [, second] = await inbox.waitCount(2);
    expect(idOf(second!)).toBe('again');
    expect(second!.redelivered).toBe(true);
    await second!.ack();
  });

  it('reject without requeue never delivers the message again (dead-lettered where supported)', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('reject');
    await s.broker.publish(makeMessage('rejected'), { queue });
    await s.broker.publish(makeMessage('next'), { queue });
    const { inbox } = await s.consume([queue], 1);
    const [first] = await inbox.waitCount(1);
    expect(idOf(first!)).toBe('rejected');
    await first!.reject({ requeue: false, reason: 'conformance: bad input' });
    const [, second] = await inbox.waitCount(2);
    expect(idOf(second!)).toBe('next');
    await second!.ack();
    await sleep(300);
    expect(inbox.ids).toEqual(['rejected', 'next']);
    expect(await s.broker.queueLength(queue)).toBe(0);
    if (s.broker.capabilities.deadLetter && s.harness.deadLetters) {
      const dead = await s.harness.deadLetters(queue);
      expect(dead).toEqual([
        { id: 'rejected', reason: expect.stringContaining('bad input') as unknown },
      ]);
    }
  });

  it('redelivers, flagged, what a consumer held when its broker closed without acking', async (ctx) => {
    const s = await openSession(ctx, make);
    const queue = s.queue('redeliver');
    const within = s.harness.redeliveryWithinMs ?? 10_000;
    const dying = await s.another();
    await s.broker.publish(makeMessage('orphan'), { queue });
    const first = await s.consume([queue], 1, dying);
    await first.inbox.waitCount(1);
    await dying.close();
    const survivor = await s.another();
    const second = await s.consume([queue], 1, survivor);
    const [again] = await second.inbox.waitCount(1, within + 2000);
    expect(idOf(again!)).toBe('orphan');
    expect(again!.redelivered).toBe(true);
    await again!.ack();
  });

  it('keeps consuming past a malformed message and reports it through onError', async (ctx) => {
    const s = await openSession(ctx, make);
    const inject = s.harness.injectMalformed;
    if (!inject) return ctx.skip('the harness cannot store a malformed message in this broker');
    const queue = s.queue('malformed');
    await inject(queue);
    await s.broker.publish(makeMessage('good'), { queue });
    const { inbox } = await s.consume([queue], 1);
    const [good] = await inbox.waitCount(1);
    expect(idOf(good!)).toBe('good');
    await good!.ack();
    await waitFor(
      'an onError report of the malformed message',
      () => inbox.errors.length > 0,
      3000,
    );
    await sleep(200);
    expect(inbox.ids).toEqual(['good']);
  });
}
