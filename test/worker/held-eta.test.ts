/**
 * A broker without delayed delivery (RabbitMQ with `delayedDelivery: false`): the core
 * emulates it once for every such broker, as Celery's worker does. The app publishes a
 * countdown task at once; the worker holds it unsettled, outside its running slots, and
 * runs it when due: a task sent after it runs first on a one-slot worker, the held one is
 * delivered once (never handed back and forth), and a worker stopping gives it back.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { AMQP_URL, requireService } from '../support/services.js';
import { openAdmin, uniqueName } from '../brokers/amqp/support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** An app on a RabbitMQ broker with delayed delivery off, counting what its consumer is handed. */
async function heldApp(ctx: TestContext) {
  await requireService(ctx, 'rabbitmq');
  const queue = uniqueName('held-eta');
  const broker = new AmqpBroker(AMQP_URL, {
    delayedDelivery: false,
    declareReplyQueues: false,
    connectionName: `celeriac-test ${queue}`,
  });
  expect(broker.capabilities.delayedDelivery).toBe(false);
  const delivered: string[] = [];
  const consume = broker.consume.bind(broker);
  broker.consume = (options) =>
    consume({
      ...options,
      onDelivery: (delivery) => {
        delivered.push(
          typeof delivery.message.headers.task === 'string' ? delivery.message.headers.task : '?',
        );
        options.onDelivery(delivery);
      },
    });
  const app = new Celeriac({ broker, defaultQueue: queue });
  const runs: Array<{ name: string; at: number }> = [];
  app.task('test.later', () => void runs.push({ name: 'later', at: Date.now() }));
  app.task('test.now', () => void runs.push({ name: 'now', at: Date.now() }));
  const worker = new Worker(app, { concurrency: 1, logger: createLineLogger({ level: 'silent' }) });
  const admin = await openAdmin();
  cleanups.push(async () => {
    await worker.stop({ timeout: 5 });
    await app.close();
    await admin.remove({ queues: [queue], exchanges: [queue] });
    await admin.close();
  });
  return { app, worker, admin, queue, delivered, runs };
}

describe('delayed delivery emulated by the core', () => {
  it('holds a task that is not due outside the slots and runs it when due, delivered once', async (ctx) => {
    const { app, worker, delivered, runs } = await heldApp(ctx);
    await worker.start();
    const sentAt = Date.now();
    await app.sendTask('test.later', [], { countdown: 1.5 });
    await app.sendTask('test.now');
    await expect
      .poll(() => runs.map((run) => run.name), { timeout: 10_000 })
      .toEqual(['now', 'later']);
    // Not run before its ETA (the countdown counts from the send, the ETA has ms precision).
    expect(runs[1]!.at).toBeGreaterThanOrEqual(sentAt + 1500 - 1);
    expect(delivered).toEqual(['test.later', 'test.now']);
  });

  it('gives a held task back to its queue when the worker stops', async (ctx) => {
    const { app, worker, admin, queue, delivered, runs } = await heldApp(ctx);
    await worker.start();
    await app.sendTask('test.later', [], { countdown: 3600 });
    await expect.poll(() => delivered.length, { timeout: 10_000 }).toBe(1);
    expect(await admin.messageCount(queue)).toBe(0);
    await worker.stop({ timeout: 5 });
    await expect.poll(() => admin.messageCount(queue), { timeout: 10_000 }).toBe(1);
    expect(runs).toEqual([]);
  });
});
