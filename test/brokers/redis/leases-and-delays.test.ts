/**
 * What only the Redis broker can show about never losing and never doubling: a consumer
 * process killed with SIGKILL loses nothing (its messages come back, flagged, to another);
 * a long task on a live consumer is never restored, however short the lease; an ETA days
 * away holds no slot and sits in the delayed set; due messages are promoted exactly once
 * however many consumers race for them.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import type { Delivery } from '../../../src/brokers/broker.js';
import {
  createRedisBroker,
  type RedisBroker,
  type RedisBrokerOptions,
} from '../../../src/brokers/redis/index.js';
import { makeMessage, sleep, waitFor } from '../../../src/testing/broker-conformance.js';
import { idOf } from '../../../src/testing/broker-conformance/harness.js';
import { requireService } from '../../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL, spawnChildConsumer } from './redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;
async function isolated(ctx: TestContext) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:leases-${process.pid}-${++counter}:`;
  const raw = rawClient();
  const brokers: RedisBroker[] = [];
  const open = async (options: RedisBrokerOptions = {}) => {
    const broker = createRedisBroker(REDIS_URL, { keyPrefix: prefix, ...options });
    await broker.connect();
    brokers.push(broker);
    return broker;
  };
  cleanups.push(async () => {
    for (const broker of brokers) await broker.close();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });
  return { prefix, raw, open };
}

async function isolatedDebug(prefix: string): Promise<{ raw: string }> {
  const client = rawClient();
  const state = {
    unacked: await client.hlen(`${prefix}unacked`),
    index: await client.zcard(`${prefix}unacked_index`),
    leases: await client.zrange(`${prefix}celeriac.leases`, '0', '-1', 'WITHSCORES'),
    queue: await client.llen(`${prefix}busy`),
    now: Date.now(),
  };
  client.disconnect();
  return { raw: JSON.stringify(state) };
}

function spawnConsumer(
  prefix: string,
  queue: string,
  mode: 'hold' | 'work',
  prefetch: number,
  leaseMs: number,
) {
  return spawnChildConsumer(cleanups, { prefix, queue, mode, prefetch, leaseMs });
}

function collect(deliveries: Delivery[]) {
  return (delivery: Delivery) => deliveries.push(delivery);
}

const ids = (deliveries: Delivery[]) => deliveries.map(idOf);

describe('redis leases: kill -9 loses nothing', () => {
  it('gives the message a SIGKILLed consumer held to another consumer, flagged redelivered', async (ctx) => {
    const { prefix, raw, open } = await isolated(ctx);
    const broker = await open({ leaseMs: 1500, restoreIntervalMs: 200 });
    await broker.publish(makeMessage('doomed'), { queue: 'q' });
    const child = spawnConsumer(prefix, 'q', 'hold', 1, 1500);
    await child.waitLine(/^got doomed$/);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(1);
    child.process.kill('SIGKILL');
    const killedAt = Date.now();
    const got: Delivery[] = [];
    await broker.consume({ queues: ['q'], prefetch: 1, onDelivery: collect(got) });
    await waitFor('the restored message', () => got.length === 1, 6000);
    expect(ids(got)).toEqual(['doomed']);
    expect(got[0]!.redelivered).toBe(true);
    // Not before its lease (1.5 s since the last heartbeat) lapsed.
    expect(Date.now() - killedAt).toBeGreaterThan(400);
    await got[0]!.ack();
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('loses no message when a busy consumer is killed at an arbitrary instant', async (ctx) => {
    const { prefix, open } = await isolated(ctx);
    const broker = await open({ leaseMs: 1500, restoreIntervalMs: 200 });
    const total = 3000;
    const sent = Array.from({ length: total }, (_, i) => `m-${i}`);
    await broker.publishMany(
      sent.map((id) => ({ message: makeMessage(id), options: { queue: 'busy' } })),
    );
    const child = spawnConsumer(prefix, 'busy', 'work', 20, 1500);
    await child.waitLine(/^acked /);
    await sleep(50 + Math.random() * 100);
    child.process.kill('SIGKILL');
    await new Promise((resolve) => child.process.once('exit', resolve));
    // Done (ack asked for) by the child: such a message may or may not come again.
    const ackedByChild = new Set(
      child.lines.filter((l) => l.startsWith('done ')).map((l) => l.slice(5)),
    );
    const got: Delivery[] = [];
    await broker.consume({
      queues: ['busy'],
      prefetch: 50,
      onDelivery: (d) => {
        got.push(d);
        void d.ack();
      },
    });
    const seen = () => new Set([...ackedByChild, ...ids(got)]);
    try {
      await waitFor(
        'every message acked by one side or the other',
        () => seen().size === total,
        10_000,
      );
    } catch (error) {
      const missing = sent.filter((id) => !seen().has(id));
      const { raw } = await isolatedDebug(prefix);
      throw new Error(
        `${(error as Error).message}; missing ${missing.length}: ${missing.slice(0, 5).join(',')}; ${raw}`,
      );
    }
    // Doubles only for what the child had claimed but not acked when it died.
    const doubled = ids(got).filter((id) => ackedByChild.has(id));
    expect(doubled.length).toBeLessThanOrEqual(20);
    expect(ackedByChild.size).toBeGreaterThan(0);
    expect(ackedByChild.size).toBeLessThan(total);
  });
});

describe('redis leases: a live consumer keeps what it holds', () => {
  it('never restores a task that runs far past the lease and the visibility timeout while its consumer lives', async (ctx) => {
    const { prefix, raw, open } = await isolated(ctx);
    const options = {
      leaseMs: 600,
      heartbeatMs: 150,
      visibilityTimeoutMs: 600,
      restoreIntervalMs: 100,
    };
    const holder = await open(options);
    const rival = await open(options);
    await holder.publish(makeMessage('long'), { queue: 'q' });
    const held: Delivery[] = [];
    await holder.consume({ queues: ['q'], prefetch: 1, onDelivery: collect(held) });
    await waitFor('the long task', () => held.length === 1);
    const stolen: Delivery[] = [];
    await rival.consume({ queues: ['q'], prefetch: 1, onDelivery: collect(stolen) });
    const started = Date.now();
    while (Date.now() - started < 3000) {
      await rival.restoreStale();
      // What a Celery worker's restore pass with a 1 s visibility timeout would pick.
      expect(
        await raw.zrangebyscore(`${prefix}unacked_index`, '-inf', Date.now() / 1000 - 1),
      ).toEqual([]);
      await sleep(100);
    }
    expect(stolen).toEqual([]);
    await held[0]!.ack();
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });
});

describe('redis delayed delivery', () => {
  it('keeps an ETA days away in the delayed set: no slot held, nothing in unacked, untouched by restore passes', async (ctx) => {
    const { prefix, raw, open } = await isolated(ctx);
    const broker = await open({ leaseMs: 300, visibilityTimeoutMs: 300, restoreIntervalMs: 100 });
    const due = Date.now() + 3 * 86_400_000;
    await broker.publish(makeMessage('far'), { queue: 'q', deliverAt: due });
    await broker.publish(makeMessage('now'), { queue: 'q' });
    const got: Delivery[] = [];
    await broker.consume({ queues: ['q'], prefetch: 1, onDelivery: collect(got) });
    await waitFor('the message due now', () => got.length === 1);
    expect(ids(got)).toEqual(['now']);
    await got[0]!.ack();
    await sleep(500);
    await broker.restoreStale();
    expect(ids(got)).toEqual(['now']);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
    const delayed = await raw.zrange(`${prefix}celeriac.delayed`, '0', '-1', 'WITHSCORES');
    expect(delayed).toHaveLength(2);
    expect(Number(delayed[1])).toBe(due);
    expect(delayed[0]).toMatch(/^1:q\{"body": /);
  });

  it('defers a fetched message with a far ETA out of its slot and into the delayed set', async (ctx) => {
    const { prefix, raw, open } = await isolated(ctx);
    const broker = await open();
    await broker.publish(makeMessage('eta'), { queue: 'q' });
    await broker.publish(makeMessage('next'), { queue: 'q' });
    const got: Delivery[] = [];
    await broker.consume({ queues: ['q'], prefetch: 1, onDelivery: collect(got) });
    await waitFor('the first message', () => got.length === 1);
    await got[0]!.defer(Date.now() + 86_400_000);
    await waitFor('the next message in the freed slot', () => got.length === 2);
    expect(ids(got)).toEqual(['eta', 'next']);
    expect(await raw.zcard(`${prefix}celeriac.delayed`)).toBe(1);
    await got[1]!.ack();
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('promotes each due message exactly once while three consumers race for it', async (ctx) => {
    const { open } = await isolated(ctx);
    const brokers = await Promise.all([open(), open(), open()]);
    const got: Delivery[] = [];
    for (const broker of brokers) {
      await broker.consume({
        queues: ['race'],
        prefetch: 10,
        onDelivery: (d) => {
          got.push(d);
          void d.ack();
        },
      });
    }
    const due = Date.now() + 400;
    const sent = Array.from({ length: 60 }, (_, i) => `due-${i}`);
    await brokers[0].publishMany(
      sent.map((id, i) => ({
        message: makeMessage(id),
        options: { queue: 'race', deliverAt: due + (i % 5) },
      })),
    );
    await waitFor('all due messages', () => got.length >= sent.length, 5000);
    await sleep(1500);
    expect(got.length).toBe(sent.length);
    expect(new Set(ids(got))).toEqual(new Set(sent));
  });
});
