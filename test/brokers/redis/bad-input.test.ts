/**
 * Bad input on the Redis broker loses nothing else and leaves nothing stuck: deliveries
 * whose tag is not UTF-8 are acked and dead-lettered like any other; a restore pass gets
 * past unacked entries it cannot use (bad tags, unreadable, gone, too big), dead-lettering
 * what it cannot give back, to reach a SIGKILLed consumer's messages behind them; an
 * envelope over `maxEnvelopeBytes` is dead-lettered unread by the claim, and a publish
 * over it is refused.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import type { Delivery } from '../../../src/brokers/broker.js';
import {
  createRedisBroker,
  type RedisBroker,
  type RedisBrokerOptions,
} from '../../../src/brokers/redis/index.js';
import { encodeWire, toWire } from '../../../src/brokers/redis/wire.js';
import { MessageTooLargeError } from '../../../src/errors.js';
import type { TransportMessage } from '../../../src/protocol/types.js';
import { idOf, makeMessage, waitFor } from '../conformance/harness.js';
import { requireService } from '../../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL, spawnChildConsumer } from './redis-test-support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;
async function isolated(ctx: TestContext) {
  await requireService(ctx, 'redis');
  const prefix = `celeriac-test:bad-input-${process.pid}-${++counter}:`;
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
  /** How many entries the three unacked records hold, for "nothing is left stuck". */
  const unacked = async () => ({
    hash: await raw.hlen(`${prefix}unacked`),
    index: await raw.zcard(`${prefix}unacked_index`),
    leases: await raw.zcard(`${prefix}celeriac.leases`),
  });
  return { prefix, raw, open, unacked };
}

const PLACEHOLDER = 'T'.repeat(36);

/**
 * A tag of `length` bytes that is not valid UTF-8: random bytes over 127 (never a quote,
 * backslash or control byte, so the envelope stays JSON), starting with 0xff.
 */
function badTag(length = 36): Buffer {
  const tag = randomBytes(length);
  for (let i = 0; i < length; i += 1) tag[i] = i === 0 ? 0xff : (tag[i] ?? 0) | 0x80;
  return tag;
}

/** A kombu envelope for `queue`, as bytes, whose delivery_tag is `tag` byte for byte. */
function envelopeWithTag(message: TransportMessage, queue: string, tag: Buffer): Buffer {
  const text = encodeWire(toWire(message, '', queue, 0), PLACEHOLDER);
  const at = text.lastIndexOf(PLACEHOLDER);
  return Buffer.concat([
    Buffer.from(text.slice(0, at)),
    tag,
    Buffer.from(text.slice(at + PLACEHOLDER.length)),
  ]);
}

/** kombu's unacked triple for an envelope of `queue`. */
function triple(envelope: Buffer, queue: string): Buffer {
  return Buffer.concat([
    Buffer.from('['),
    envelope,
    Buffer.from(`, "", ${JSON.stringify(queue)}]`),
  ]);
}

function bigMessage(id: string, bytes: number): TransportMessage {
  return { ...makeMessage(id), body: Buffer.alloc(bytes, 'a') };
}

describe('redis: delivery tags that are not UTF-8', () => {
  it('acks and dead-letters deliveries whose tags are not valid UTF-8, leaving nothing unacked', async (ctx) => {
    const { prefix, raw, open, unacked } = await isolated(ctx);
    const broker = await open();
    // 36 bytes (read off the envelope's end, as kombu's uuids are) and other lengths.
    await raw.lpush(`${prefix}q`, envelopeWithTag(makeMessage('bad-36'), 'q', badTag(36)));
    await raw.lpush(`${prefix}q`, envelopeWithTag(makeMessage('bad-7'), 'q', badTag(7)));
    await raw.lpush(`${prefix}q`, envelopeWithTag(makeMessage('bad-dead'), 'q', badTag(50)));
    const got: Delivery[] = [];
    await broker.consume({
      queues: ['q'],
      prefetch: 10,
      onDelivery: (delivery) => got.push(delivery),
    });
    await waitFor('three deliveries', () => got.length === 3);
    expect(got.map(idOf)).toEqual(['bad-36', 'bad-7', 'bad-dead']);
    expect((await unacked()).hash).toBe(3);
    await got[0]!.ack();
    await got[1]!.ack();
    await got[2]!.reject({ requeue: false, reason: 'refused by the test' });
    expect(await unacked()).toEqual({ hash: 0, index: 0, leases: 0 });
    const dead = await broker.deadLetters('q');
    expect(dead.map((entry) => entry.reason)).toEqual(['refused by the test']);
  });
});

describe('redis restore pass: bad entries never block it', () => {
  it('gets past hundreds of bad-tag, unreadable, gone and oversized entries to a SIGKILLed consumer’s messages', async (ctx) => {
    const { prefix, raw, open, unacked } = await isolated(ctx);
    const limit = 64 * 1024;
    const broker = await open({ leaseMs: 1500, maxEnvelopeBytes: limit });
    const old = Date.now() - 600_000;
    const stuck: string[] = [];
    const inject = raw.multi();
    const record = (tag: Buffer, value: Buffer | undefined, leased: boolean, i: number): void => {
      if (value) inject.hset(`${prefix}unacked`, tag, value);
      inject.zadd(`${prefix}unacked_index`, Math.floor((old - 7_200_000) / 1000) + i, tag);
      if (leased) inject.zadd(`${prefix}celeriac.leases`, old + i, tag);
    };
    // Messages held by Celeriac consumers long dead (lapsed leases), and by Celery workers
    // long dead (no lease, past the visibility timeout), all tagged with bytes that are not UTF-8.
    for (let i = 0; i < 500; i += 1) {
      const id = `stuck-${i}`;
      stuck.push(id);
      const tag = badTag(36);
      record(tag, triple(envelopeWithTag(makeMessage(id), 'other', tag), 'other'), i < 250, i);
    }
    // Entries nothing can restore: unreadable, gone from the hash, too big to read.
    for (let i = 0; i < 20; i += 1)
      record(badTag(20), Buffer.from([0xff, 0x7b, 0x6e, 0x6f, 0x74, 0x20, 0x4a]), true, 1000 + i);
    for (let i = 0; i < 20; i += 1) record(badTag(36), undefined, true, 2000 + i);
    for (let i = 0; i < 2; i += 1) {
      const tag = badTag(36);
      record(
        tag,
        triple(envelopeWithTag(bigMessage(`huge-${i}`, 2 * limit), 'other', tag), 'other'),
        true,
        3000 + i,
      );
    }
    await inject.exec();

    // A consumer takes five messages and is killed holding them.
    const doomed = ['doomed-0', 'doomed-1', 'doomed-2', 'doomed-3', 'doomed-4'];
    await broker.publishMany(
      doomed.map((id) => ({ message: makeMessage(id), options: { queue: 'q' } })),
    );
    const child = spawnChildConsumer(cleanups, {
      prefix,
      queue: 'q',
      mode: 'hold',
      prefetch: 5,
      leaseMs: 1500,
    });
    await child.waitLine(/^got doomed-4$/);
    child.process.kill('SIGKILL');
    await new Promise((resolve) => child.process.once('exit', resolve));
    await waitFor(
      'the killed consumer’s leases to lapse',
      async () => (await raw.zcount(`${prefix}celeriac.leases`, `(${Date.now()}`, '+inf')) === 0,
      5000,
    );

    const errors: string[] = [];
    for (let pass = 0; pass < 5 && (await broker.queueLength('q')) < doomed.length; pass += 1) {
      await broker.restoreStale();
    }
    expect(await broker.queueLength('q')).toBe(doomed.length);
    // Every pass got through all the others as well: restored, or dead-lettered with why.
    for (let pass = 0; pass < 3; pass += 1) await broker.restoreStale();
    expect(await unacked()).toEqual({ hash: 0, index: 0, leases: 0 });
    expect(await broker.queueLength('other')).toBe(stuck.length);
    const dead = await broker.deadLetters('_unreadable', 1000);
    expect(dead).toHaveLength(42);
    const reasons = dead.map((entry) => entry.reason);
    expect(reasons.filter((reason) => /not JSON/.test(reason))).toHaveLength(20);
    expect(reasons.filter((reason) => /without its unacked hash field/.test(reason))).toHaveLength(
      20,
    );
    // One whose value was gone is known by its tag alone.
    expect(dead.filter((entry) => entry.envelope === '' && entry.tag?.length)).toHaveLength(20);
    expect(
      reasons.filter((reason) => /over the limit of 65536 \(maxEnvelopeBytes\)/.test(reason)),
    ).toHaveLength(2);
    // What was dead-lettered is kept whole, bytes and all.
    const rawDead = await raw.lrangeBuffer(`${prefix}celeriac.dead._unreadable`, 0, -1);
    expect(
      rawDead.filter((entry) =>
        entry.includes(Buffer.from([0xff, 0x7b, 0x6e, 0x6f, 0x74, 0x20, 0x4a])),
      ),
    ).toHaveLength(20);

    // Every restored message runs and is acked, bad tags and all: nothing is left unacked.
    const got: Delivery[] = [];
    await broker.consume({
      queues: ['q', 'other'],
      prefetch: 100,
      onDelivery: (delivery) => {
        got.push(delivery);
        void delivery.ack();
      },
      onError: (error) => errors.push(error.message),
    });
    await waitFor(
      'every restored message',
      () => got.length === doomed.length + stuck.length,
      10_000,
    );
    expect(new Set(got.map(idOf))).toEqual(new Set([...doomed, ...stuck]));
    expect(got.every((delivery) => delivery.redelivered)).toBe(true);
    await waitFor('every ack written', async () => (await unacked()).hash === 0);
    expect(await unacked()).toEqual({ hash: 0, index: 0, leases: 0 });
  });
});

describe('redis: envelopes over maxEnvelopeBytes', () => {
  it('dead-letters an envelope over the limit without parsing it, says so in one line, and goes on consuming', async (ctx) => {
    const { prefix, raw, open, unacked } = await isolated(ctx);
    const limit = 64 * 1024;
    const broker = await open({ maxEnvelopeBytes: limit });
    const huge = encodeWire(toWire(bigMessage('huge', 1024 * 1024), '', 'q', 0), 'huge-tag');
    await raw.lpush(`${prefix}q`, huge);
    await broker.publish(makeMessage('small'), { queue: 'q' });
    const got: Delivery[] = [];
    const errors: string[] = [];
    await broker.consume({
      queues: ['q'],
      prefetch: 10,
      onDelivery: (delivery) => got.push(delivery),
      onError: (error) => errors.push(error.message),
    });
    await waitFor('the small message', () => got.length === 1);
    await got[0]!.ack();
    expect(got.map(idOf)).toEqual(['small']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(
        `^Dead-lettered a message of ${huge.length} bytes from queue q unread: over maxEnvelopeBytes \\(65536\\)`,
      ),
    );
    expect(errors[0]).not.toContain('\n');
    const dead = await broker.deadLetters('q');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/over the limit of 65536 \(maxEnvelopeBytes\)/);
    expect(dead[0]!.envelope).toBe(huge);
    expect(await unacked()).toEqual({ hash: 0, index: 0, leases: 0 });
  });

  it('holds to 16 MiB when no limit is given', async (ctx) => {
    const { prefix, raw, open } = await isolated(ctx);
    const broker = await open();
    const huge = encodeWire(toWire(bigMessage('huge', 13 * 1024 * 1024), '', 'q', 0), 'huge-tag');
    expect(huge.length).toBeGreaterThan(16 * 1024 * 1024);
    await raw.lpush(`${prefix}q`, huge);
    await broker.publish(makeMessage('after'), { queue: 'q' });
    const got: Delivery[] = [];
    const errors: string[] = [];
    await broker.consume({
      queues: ['q'],
      prefetch: 1,
      onDelivery: (delivery) => got.push(delivery),
      onError: (error) => errors.push(error.message),
    });
    await waitFor('the message after it', () => got.length === 1, 10_000);
    expect(got.map(idOf)).toEqual(['after']);
    expect(errors[0]).toMatch(/over maxEnvelopeBytes \(16777216\)/);
    expect(await raw.llen(`${prefix}celeriac.dead.q`)).toBe(1);
  });

  it('refuses to publish an envelope over the limit, so no worker of the same settings is sent what it would refuse', async (ctx) => {
    const { open } = await isolated(ctx);
    const broker = await open({ maxEnvelopeBytes: 64 * 1024 });
    await expect(broker.publish(bigMessage('big', 100 * 1024), { queue: 'q' })).rejects.toThrow(
      MessageTooLargeError,
    );
    await expect(broker.publish(bigMessage('big', 100 * 1024), { queue: 'q' })).rejects.toThrow(
      /over the limit of 65536 bytes/,
    );
    await expect(
      broker.publishMany([
        { message: makeMessage('fine'), options: { queue: 'q' } },
        {
          message: bigMessage('big', 100 * 1024),
          options: { queue: 'q', deliverAt: Date.now() + 60_000 },
        },
      ]),
    ).rejects.toThrow(MessageTooLargeError);
    expect(await broker.queueLength('q')).toBe(0);
    await broker.publish(makeMessage('fine'), { queue: 'q' });
    expect(await broker.queueLength('q')).toBe(1);
  });
});
