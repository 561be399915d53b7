/**
 * A PostgreSQL broker and result backend on one database store a task's result in the
 * statement that acks its message (ResultBackend.storeAndAck): one round trip and one
 * commit per batch of finished tasks, not a store and then an ack, and riding with the
 * consumer's next claim when it goes in the same turn. The result is as a
 * store writes it (readable, pushed to waiters); a lost lease acks nothing but keeps the
 * result; a delivery of another broker is stored, then acked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Celeriac, Worker } from '../../../src/index.js';
import { PostgresBackend } from '../../../src/backends/postgres/index.js';
import { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import type { Delivery } from '../../../src/brokers/broker.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { makeMessage } from '../../../src/testing/broker-conformance.js';
import type { Logger } from '../../../src/logger.js';
import { requireService } from '../../support/services.js';
import { terminateBackends, testSchema } from '../../support/postgres.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quiet,
} as unknown as Logger;

/** Counts the statements this process's pg clients send, by text, until the test ends. */
function countStatements() {
  const counts = new Map<string, number>();
  const prototype = pg.Client.prototype as unknown as Record<
    'query',
    (...args: unknown[]) => unknown
  >;
  const query = prototype.query;
  prototype.query = function counted(this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string })?.text ?? '');
    const kind = text.replace(/\s+/g, ' ').trim();
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    return query.apply(this, args);
  };
  cleanups.push(() => {
    prototype.query = query;
  });
  return {
    matching: (pattern: RegExp) =>
      [...counts].filter(([kind]) => pattern.test(kind)).reduce((sum, [, n]) => sum + n, 0),
  };
}

function success(id: string, result: number): ResultMeta {
  return { task_id: id, status: 'SUCCESS', result, traceback: null, children: [], date_done: null };
}

describe('storeAndAck on a PostgreSQL broker and backend', () => {
  it('a worker stores each result in the statement acking its message', async (ctx) => {
    await requireService(ctx, 'postgres');
    const schema = testSchema('store_ack');
    const client = new Celeriac({ broker: schema.url, backend: schema.url });
    const app = new Celeriac({ broker: schema.url, backend: schema.url });
    cleanups.push(async () => {
      await client.close();
      await app.close();
      await schema.drop();
    });
    app.task('double', (n: number) => n * 2);
    const n = 40;
    const results = await client.sendMany(
      Array.from({ length: n }, (_, i) => ({ task: 'double', args: [i] })),
    );
    const statements = countStatements();
    const worker = new Worker(app, { concurrency: 4, logger: quiet });
    cleanups.unshift(() => worker.stop());
    await worker.start();
    const values = await Promise.all(results.map((result) => result.get({ timeout: 30 })));
    expect(values).toEqual(Array.from({ length: n }, (_, i) => i * 2));
    // Every result went with an ack: no store of the backend's own, no plain ack.
    expect(statements.matching(/^WITH rows AS (?!.*acked AS)/)).toBe(0);
    expect(statements.matching(/^DELETE FROM \S+\."messages" AS msg USING unnest/)).toBe(0);
    expect(statements.matching(/stored AS .*acked AS|acked AS .*stored AS/)).toBeGreaterThan(0);
    // The acks of a turn ride with the claim of that turn: one statement for both.
    expect(statements.matching(/^WITH acked AS .*picked AS/)).toBeGreaterThan(0);
    const broker = await client.broker();
    expect(await broker.queueLength('celery')).toBe(0);
    const db = await schema.client();
    const left = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema.schema}".messages`,
    );
    expect(left.rows[0]?.n).toBe(0);
  }, 60_000);

  it('loses no result and no task when its connections are terminated under load', async (ctx) => {
    await requireService(ctx, 'postgres');
    const schema = testSchema('store_ack_fault');
    const client = new Celeriac({ broker: schema.url, backend: schema.url });
    const app = new Celeriac({ broker: schema.url, backend: schema.url });
    cleanups.push(async () => {
      await client.close();
      await app.close();
      await schema.drop();
    });
    app.task('double', (n: number) => n * 2);
    const n = 600;
    const results = await client.sendMany(
      Array.from({ length: n }, (_, i) => ({ task: 'double', args: [i] })),
    );
    const worker = new Worker(app, { concurrency: 10, logger: quiet });
    cleanups.unshift(() => worker.stop());
    await worker.start();
    const broker = await client.broker();
    let terminated = 0;
    for (const left of [450, 200]) {
      while ((await broker.queueLength('celery')) > left)
        await new Promise((resolve) => setTimeout(resolve, 5));
      terminated += await terminateBackends(schema.applicationName);
    }
    expect(terminated).toBeGreaterThan(2);
    const values = await Promise.all(results.map((result) => result.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: n }, (_, i) => i * 2));
    const db = await schema.client();
    const until = Date.now() + 30_000;
    let left = -1;
    while (left !== 0 && Date.now() < until) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${schema.schema}".messages`,
      );
      left = rows[0]?.n ?? -1;
      if (left !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(left).toBe(0);
  }, 120_000);

  it('keeps the result but acks nothing when the lease was lost to another consumer', async (ctx) => {
    await requireService(ctx, 'postgres');
    const schema = testSchema('store_ack_lost');
    const broker = new PostgresBroker(schema.url);
    const backend = new PostgresBackend(schema.url);
    cleanups.push(async () => {
      await broker.close();
      await backend.close();
      await schema.drop();
    });
    backend.attachBroker(broker);
    await broker.connect();
    await backend.connect();
    const errors: Error[] = [];
    const deliveries: Delivery[] = [];
    await broker.consume({
      queues: ['q'],
      prefetch: 1,
      onDelivery: (delivery) => deliveries.push(delivery),
      onError: (error) => errors.push(error),
    });
    const statements = countStatements();
    await broker.publish(makeMessage('lost-1'), { queue: 'q' });
    for (let i = 0; i < 500 && deliveries.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const db = await schema.client();
    await db.query(`UPDATE "${schema.schema}".messages SET lease_owner = 'someone-else'`);
    await backend.storeAndAck(success('lost-1', 7), {}, deliveries[0]!);
    expect(statements.matching(/stored AS .*acked AS|acked AS .*stored AS/)).toBe(1);
    expect((await backend.get('lost-1'))?.result).toBe(7);
    const left = await db.query(`SELECT lease_owner FROM "${schema.schema}".messages`);
    expect(left.rows).toEqual([{ lease_owner: 'someone-else' }]);
    expect(errors.some((error) => /lease had expired/.test(error.message))).toBe(true);
  });

  it('stores, then acks, a delivery its broker did not issue', async (ctx) => {
    await requireService(ctx, 'postgres');
    const schema = testSchema('store_ack_other');
    const broker = new PostgresBroker(schema.url);
    const backend = new PostgresBackend(schema.url);
    cleanups.push(async () => {
      await broker.close();
      await backend.close();
      await schema.drop();
    });
    backend.attachBroker(broker);
    await backend.connect();
    const order: string[] = [];
    const foreign: Delivery = {
      message: makeMessage('foreign'),
      queue: 'q',
      redelivered: false,
      ack: async () => {
        order.push(`ack:${(await backend.get('foreign'))?.status}`);
      },
      reject: () => Promise.resolve(),
      defer: () => Promise.resolve(),
      release: () => undefined,
    };
    await backend.storeAndAck(success('foreign', 1), {}, foreign);
    expect(order).toEqual(['ack:SUCCESS']);
  });
});
