/**
 * Expiry in SQL, on both SQL brokers: a message past its `expiresAt` is never leased; the
 * claim that finds it moves it to the dead letters in the same statement (PostgreSQL) or
 * transaction (SQLite) and hands it on flagged `expired`, so a worker marks its task
 * REVOKED (expired) as Celery does, without running it and without a settle round trip.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, Worker } from '../../src/index.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { EXPIRED_REASON } from '../../src/brokers/sql/queue-store.js';
import { Inbox, makeMessage, sleep } from '../../src/testing/broker-conformance.js';
import { targets, type SqlBroker } from './sql-targets.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const message = (id: string) => makeMessage(id);

describe.each(Object.keys(targets))('expiry in SQL on %s', (kind) => {
  it('dead-letters a message past expiresAt in the claim and hands it on flagged expired, unleased', async (ctx) => {
    const target = await targets[kind]!(ctx);
    cleanups.push(() => target.cleanup());
    const broker = target.open(300);
    cleanups.push(() => broker.close());
    await broker.connect();
    const queue = `expiry-${kind}`;
    const now = Date.now();
    await broker.publishMany([
      { message: message('gone'), options: { queue, expiresAt: now - 1000 } },
      { message: message('plain'), options: { queue } },
      { message: message('later'), options: { queue, expiresAt: now + 3_600_000 } },
    ]);
    const inbox = new Inbox();
    const consumer = await broker.consume({
      queues: [queue],
      prefetch: 2, // the expired one takes no slot: both live ones still come
      onDelivery: inbox.onDelivery,
      onError: inbox.onError,
    });
    cleanups.push(() => consumer.cancel());
    const deliveries = await inbox.waitCount(3, 5000);
    const byId = new Map<string, Delivery>(
      deliveries.map((d) => [d.message.headers.id as string, d]),
    );
    expect(byId.get('gone')?.expired).toBe(true);
    expect(byId.get('plain')?.expired).toBeFalsy();
    expect(byId.get('later')?.expired).toBeFalsy();
    // Already settled by the claim: ack does nothing and nothing comes back after the lease.
    await byId.get('gone')!.ack();
    await byId.get('plain')!.ack();
    await byId.get('later')!.ack();
    await sleep(900);
    expect(inbox.ids).toHaveLength(3);
    expect(await broker.queueLength(queue)).toBe(0);
    const dead = await broker.deadLetters(queue);
    expect(dead.map((d) => [d.message?.headers.id, d.reason])).toEqual([['gone', EXPIRED_REASON]]);
    expect(inbox.errors).toEqual([]);
  });

  it('a worker marks the expired task REVOKED (expired) without running it', async (ctx) => {
    const target = await targets[kind]!(ctx);
    cleanups.push(() => target.cleanup());
    const app = new Celeriac({
      broker: target.url,
      backend: target.url,
    });
    cleanups.push(() => app.close());
    const ran: string[] = [];
    const probe = app.task('expiry.run', (label: string) => {
      ran.push(label);
      return label;
    });
    const expired = await probe.applyAsync(['expired'], { expires: 0.05 });
    const fresh = await probe.applyAsync(['fresh'], { expires: 3600 });
    await sleep(200);
    const worker = new Worker(app, { concurrency: 1 });
    cleanups.push(() => worker.stop());
    await worker.start();
    expect(await fresh.get({ timeout: 10 })).toBe('fresh');
    await expect(expired.get({ timeout: 10 })).rejects.toThrow(/expired/);
    expect(await expired.state()).toBe('REVOKED');
    expect(ran).toEqual(['fresh']);
    const broker = (await app.broker()) as SqlBroker;
    const dead = await broker.deadLetters('celery');
    expect(dead.map((d) => [d.message?.headers.id, d.reason])).toEqual([
      [expired.id, EXPIRED_REASON],
    ]);
  });
});
