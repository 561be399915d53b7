/**
 * The database going away under load, simulated without restarting the shared server:
 * every backend connection this test's broker opened (found by its application_name) is
 * terminated with pg_terminate_backend while messages flow. Nothing is lost, consumption
 * resumes on its own, and an idle consumer is woken by NOTIFY again after its LISTEN
 * connection came back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import { makeMessage, sleep, waitFor } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { terminateBackends, testSchema, type TestSchema } from '../../support/postgres.js';

let pg: TestSchema | undefined;
const opened: PostgresBroker[] = [];

afterEach(async () => {
  for (const broker of opened.splice(0)) await broker.close();
  await pg?.drop();
  pg = undefined;
});

describe('PostgreSQL broker when its connections are terminated', () => {
  it('loses nothing under load and resumes consuming on its own', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('fault');
    const queue = 'fault';
    const consumerBroker = new PostgresBroker(pg.url, { leaseMs: 2000 });
    const publisher = new PostgresBroker(pg.url);
    opened.push(consumerBroker, publisher);
    await Promise.all([consumerBroker.connect(), publisher.connect()]);
    const received: string[] = [];
    const errors: Error[] = [];
    await consumerBroker.consume({
      queues: [queue],
      prefetch: 20,
      onError: (error) => errors.push(error),
      onDelivery: (delivery) => {
        const id = delivery.message.headers.id;
        received.push(typeof id === 'string' ? id : JSON.stringify(id));
        void delivery.ack().catch((error: Error) => errors.push(error));
      },
    });

    const total = 600;
    let failedPublishes = 0;
    let terminated = 0;
    for (let i = 0; i < total; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => ({
        message: makeMessage(`f-${i + j}`),
        options: { queue },
      }));
      // The caller's side of "confirmed or reported as failed": a failed publish is retried.
      for (;;) {
        try {
          await publisher.publishMany(batch);
          break;
        } catch {
          failedPublishes += 1;
          await sleep(50);
        }
      }
      if (i === 200 || i === 400) terminated += await terminateBackends(pg.applicationName);
      await sleep(5);
    }
    await waitFor(
      `all ${total} ids (have ${new Set(received).size})`,
      () => new Set(received).size >= total,
      20_000,
    );
    expect(terminated).toBeGreaterThan(2);
    const expected = Array.from({ length: total }, (_, i) => `f-${i}`);
    expect(new Set(received)).toEqual(new Set(expected));
    await waitFor('an empty queue', async () => (await publisher.queueLength(queue)) === 0, 10_000);

    // Idle now: cut everything again, then one publish must wake the consumer through NOTIFY
    // well before the 5 s fallback poll.
    await sleep(200);
    terminated = await terminateBackends(pg.applicationName);
    expect(terminated).toBeGreaterThan(0);
    await sleep(1000);
    const before = received.length;
    const sentAt = Date.now();
    await publisher.publish(makeMessage('after-idle'), { queue });
    await waitFor('the wake-up after reconnecting', () => received.length > before, 4000);
    expect(Date.now() - sentAt).toBeLessThan(3000);
    expect(received.at(-1)).toBe('after-idle');
    await ctx.annotate(
      `failed publishes retried: ${failedPublishes}; duplicates: ${received.length - new Set(received).size}`,
    );
  });
});
