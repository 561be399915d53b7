/**
 * The Redis broker writes kombu's layout byte for byte, checked against what real Celery
 * 5.2.6 and 5.6.3 wrote (test/fixtures/celery-wire): the envelope LPUSHed into `celery`, the
 * priority lists, the binding set, the unacked hash and index after a fetch, and the
 * envelope a restore pushes back. Each test works under its own key prefix.
 */
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { createRedisBroker, type RedisBroker } from '../../../src/brokers/redis/index.js';
import { decodeEnvelope } from '../../../src/protocol/kombu-envelope.js';
import type { JsonObject } from '../../../src/protocol/types.js';
import type { Delivery } from '../../../src/brokers/broker.js';
import { requireService } from '../../support/services.js';
import { loadVector, redisEnvelopes, STACKS } from '../../protocol/wire-vectors.js';
import { deleteByPrefix, rawClient, REDIS_URL } from './redis-test-support.js';

const SEP = '\x06\x16';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;
async function setup(ctx: TestContext, options: { visibilityTimeoutMs?: number } = {}) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:layout-${process.pid}-${++counter}:`;
  const broker: RedisBroker = createRedisBroker(REDIS_URL, { keyPrefix: prefix, ...options });
  await broker.connect();
  const raw = rawClient();
  cleanups.push(async () => {
    await broker.close();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });
  return { prefix, broker, raw };
}

/** The envelope with its delivery tag replaced, to compare ours with a capture. */
function withTag(envelope: string, tag: string): string {
  return envelope.replace(/"delivery_tag": "[^"]*"/, `"delivery_tag": "${tag}"`);
}

function tagOf(envelope: string): string {
  return /"delivery_tag": "([^"]*)"/.exec(envelope)?.[1] ?? '';
}

describe.each(STACKS)('kombu layout against Celery %s', (stack) => {
  it.for([
    'send_delay.json',
    'send_expires_seconds.json',
    'send_options_misc.json',
    'send_queue_other.json',
  ])('publishes %s byte for byte as Celery did, into the same list', async (file, ctx) => {
    const { prefix, broker, raw } = await setup(ctx);
    const [captured] = redisEnvelopes(stack, file).filter((e) => e.command === 'LPUSH');
    const message = decodeEnvelope(captured!.raw);
    await broker.publish(message, { queue: captured!.queue });
    const stored = await raw.lrange(`${prefix}${captured!.queue}`, 0, -1);
    expect(stored).toHaveLength(1);
    expect(withTag(stored[0]!, tagOf(captured!.raw))).toBe(captured!.raw);
  });

  it('maps priorities onto kombu’s priority lists (`<queue>\\x06\\x16<step>`) exactly as Celery did', async (ctx) => {
    const { prefix, broker, raw } = await setup(ctx);
    const captured = redisEnvelopes(stack, 'send_priority_0_to_9.json').filter(
      (e) => e.command === 'LPUSH',
    );
    expect(captured).toHaveLength(10);
    for (const entry of captured) {
      const message = decodeEnvelope(entry.raw);
      const kombuPriority = message.properties.priority as number;
      // Ours is higher-first 0..9+, kombu's Redis priority lower-first: ours = 9 - kombu's.
      await broker.publish(message, { queue: 'celery', priority: 9 - kombuPriority });
    }
    for (const key of new Set(captured.map((e) => e.queue))) {
      const expected = captured.filter((e) => e.queue === key).map((e) => e.raw);
      const stored = (await raw.lrange(`${prefix}${key}`, 0, -1)).reverse();
      expect(stored.map((envelope, i) => withTag(envelope, tagOf(expected[i]!)))).toEqual(expected);
    }
    expect([...new Set(captured.map((e) => e.queue))]).toEqual([
      'celery',
      `celery${SEP}3`,
      `celery${SEP}6`,
      `celery${SEP}9`,
    ]);
  });

  it('declares the queue’s binding as kombu does', async (ctx) => {
    const { prefix, broker, raw } = await setup(ctx);
    const [captured] = redisEnvelopes(stack, 'send_delay.json');
    await broker.publish(decodeEnvelope(captured!.raw), { queue: 'celery' });
    await broker.publish(decodeEnvelope(captured!.raw), { queue: 'other' });
    expect(await raw.smembers(`${prefix}_kombu.binding.celery`)).toEqual([
      `celery${SEP}${SEP}celery`,
    ]);
    expect(await raw.smembers(`${prefix}_kombu.binding.other`)).toEqual([`other${SEP}${SEP}other`]);
  });

  it('records a fetched message in unacked and unacked_index exactly as a Celery worker does, and clears both on ack', async (ctx) => {
    const { prefix, broker, raw } = await setup(ctx);
    const data = loadVector(stack, 'redis', 'worker_unacked.json');
    const snapshot = (data.snapshots as JsonObject[])[0]!;
    const unacked = ((snapshot.redis as JsonObject).db0 as JsonObject[]).find(
      (k) => k.key === 'unacked',
    )!;
    const [[tag, triple]] = Object.entries(unacked.hgetall as Record<string, string>) as [
      [string, string],
    ];
    const envelope = redisEnvelopes(stack, 'worker_unacked.json').find(
      (e) => e.command === 'LPUSH' && tagOf(e.raw) === tag,
    )!.raw;
    await raw.lpush(`${prefix}celery`, envelope);
    const before = Date.now() / 1000;
    const delivered: Delivery[] = [];
    const consumer = await broker.consume({
      queues: ['celery'],
      prefetch: 1,
      onDelivery: (d) => delivered.push(d),
    });
    await expect.poll(() => delivered.length).toBe(1);
    const after = Date.now() / 1000;
    expect(await raw.hget(`${prefix}unacked`, tag)).toBe(triple);
    // Unix seconds rounded up to a whole second: kombu compares the score with
    // time() - visibility_timeout, so it is never restored early.
    const score = Number(await raw.zscore(`${prefix}unacked_index`, tag));
    expect(Number.isInteger(score)).toBe(true);
    expect(score).toBeGreaterThanOrEqual(before);
    expect(score).toBeLessThanOrEqual(Math.ceil(after));
    expect(await raw.llen(`${prefix}celery`)).toBe(0);
    await delivered[0]!.ack();
    expect(await raw.hexists(`${prefix}unacked`, tag)).toBe(0);
    expect(await raw.zscore(`${prefix}unacked_index`, tag)).toBeNull();
    await consumer.cancel();
  });

  it('restores a dead Celery worker’s message to the front of its queue, marked redelivered, byte for byte as kombu', async (ctx) => {
    const { prefix, broker, raw } = await setup(ctx, { visibilityTimeoutMs: 5000 });
    const commands = (
      loadVector(stack, 'redis', 'worker_kill9_restore.json').redis_commands as JsonObject[]
    ).map((c) => c.cmd as string[]);
    const [, , tag, triple] = commands.find((cmd) => cmd[0] === 'HSET')!;
    const restored = commands.find((cmd) => cmd[0] === 'RPUSH' && cmd[1] === 'celery')![2]!;
    // What a Celery worker killed 10 s ago left behind (visibility timeout 5 s, as captured).
    await raw.zadd(`${prefix}unacked_index`, Date.now() / 1000 - 10, tag!);
    await raw.hset(`${prefix}unacked`, tag!, triple!);
    await raw.lpush(`${prefix}celery`, 'an older message');
    expect(await broker.restoreStale()).toBe(1);
    expect(await raw.lrange(`${prefix}celery`, 0, -1)).toEqual(['an older message', restored]);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
    expect(await raw.zcard(`${prefix}unacked_index`)).toBe(0);
  });

  it('serves Celery’s priority lists lower number first and hands out the priority on our scale', async (ctx) => {
    const { prefix, broker, raw } = await setup(ctx);
    const captured = redisEnvelopes(stack, 'send_priority_0_to_9.json').filter(
      (e) => e.command === 'LPUSH',
    );
    // Pushed lowest priority first, so only the lists' order can serve the highest first.
    for (const entry of [...captured].reverse())
      await raw.lpush(`${prefix}${entry.queue}`, entry.raw);
    const delivered: Delivery[] = [];
    const consumer = await broker.consume({
      queues: ['celery'],
      prefetch: 10,
      onDelivery: (d) => delivered.push(d),
    });
    await expect.poll(() => delivered.length).toBe(10);
    const kombu = delivered.map((d) => 9 - (d.message.properties.priority as number));
    const steps = kombu.map((p) => (p >= 9 ? 9 : p >= 6 ? 6 : p >= 3 ? 3 : 0));
    expect(steps).toEqual([0, 0, 0, 3, 3, 3, 6, 6, 6, 9]);
    // Within one list, first in first out.
    expect(kombu).toEqual([2, 1, 0, 5, 4, 3, 8, 7, 6, 9]);
    await Promise.all(delivered.map((d) => d.ack()));
    await consumer.cancel();
  });
});
