/**
 * The AMQP broker's pure parts, without a server: kombu's URL reading, py-amqp's header
 * typing, the delayed-delivery routing key (against Celery 5.6's captured countdown), the
 * rewrite that lets amqplib read py-amqp's 64-bit `L` tag, and option validation.
 */
import { describe, expect, it } from 'vitest';
import {
  parseAmqpUrl,
  resolveAmqpOptions,
  InvalidAmqpOptionsError,
  optionsFromUrl,
} from '../../../src/brokers/amqp/options.js';
import {
  fromFieldTable,
  fromOwnedFieldTable,
  toFieldTable,
} from '../../../src/connections/amqp/field-table.js';
import {
  delayedRoute,
  delaySecondsUntil,
  deliveryBindingPattern,
  levelDeclarations,
  MAX_DELAY_SECONDS,
} from '../../../src/brokers/amqp/delayed-delivery.js';
import { rewriteLongTags } from '../../../src/connections/amqp/amqplib.js';
import { fromAmqpMessage, toPublishOptions } from '../../../src/brokers/amqp/message-codec.js';
import type { JsonObject } from '../../../src/protocol/types.js';
import { loadVector } from '../../protocol/wire-vectors.js';

describe('AMQP URLs, read as kombu reads them', () => {
  it.each([
    [
      'amqp://guest:guest@127.0.0.1:5672//',
      { hostname: '127.0.0.1', port: 5672, vhost: '/', username: 'guest' },
    ],
    ['amqp://u:p%40ss@rabbit/', { hostname: 'rabbit', port: 5672, vhost: '/', password: 'p@ss' }],
    ['amqp://rabbit', { vhost: '/', username: 'guest', password: 'guest' }],
    ['amqp://rabbit/prod', { vhost: 'prod' }],
    ['amqp://rabbit/%2Fprod', { vhost: '/prod' }],
    ['amqps://rabbit', { protocol: 'amqps', port: 5671 }],
    ['amqp://rabbit?heartbeat=5', { heartbeat: 5 }],
  ])('%s', (url, expected) => {
    expect(parseAmqpUrl(url, 30)).toMatchObject(expected);
  });

  it('refuses what is not an AMQP URL, without echoing the password', () => {
    expect(() => parseAmqpUrl('redis://u:secret@x', 30)).toThrow(/amqp:\/\//);
    expect(() => parseAmqpUrl('redis://u:secret@x', 30)).not.toThrow(/secret/);
  });

  it('reads broker options from the query, and lets options in code win', () => {
    const url =
      'amqp://h//?deadLetter=true&maxPriority=10&queueType=classic&publishTimeoutMs=500&keyPrefix=shop.';
    expect(optionsFromUrl(url)).toEqual({
      deadLetter: true,
      maxPriority: 10,
      queueType: 'classic',
      publishTimeoutMs: 500,
      keyPrefix: 'shop.',
    });
    const resolved = resolveAmqpOptions(url, { maxPriority: 5, keyPrefix: undefined });
    expect(resolved).toMatchObject({
      deadLetter: true,
      maxPriority: 5,
      keyPrefix: 'shop.',
      publishTimeoutMs: 500,
    });
    expect(resolved.target.vhost).toBe('/');
    expect(() => optionsFromUrl('amqp://h?queueType=stream')).toThrow(/classic, quorum/);
    expect(() => optionsFromUrl('amqp://h?deadLetter=maybe')).toThrow(InvalidAmqpOptionsError);
  });

  it('refuses x-max-priority on quorum queues and out-of-range priorities', () => {
    expect(() => resolveAmqpOptions('amqp://x', { queueType: 'quorum', maxPriority: 10 })).toThrow(
      InvalidAmqpOptionsError,
    );
    expect(() => resolveAmqpOptions('amqp://x', { maxPriority: 256 })).toThrow(/1 to 255/);
  });
});

describe('header tables typed as py-amqp types them', () => {
  it('gives every number an explicit AMQP type', () => {
    expect(
      toFieldTable({
        a: 1,
        b: -1,
        c: 2147483647,
        d: -2147483647,
        e: 2 ** 31,
        f: 1.5,
        g: -(2 ** 40),
        h: undefined,
      }),
    ).toEqual({
      a: { '!': 'int', value: 1 },
      b: { '!': 'int', value: -1 },
      c: { '!': 'int', value: 2147483647 },
      d: { '!': 'int', value: -2147483647 },
      e: { '!': 'long', value: 2 ** 31 },
      f: { '!': 'double', value: 1.5 },
      g: { '!': 'double', value: -(2 ** 40) },
    });
  });

  it('reads timestamps, decimals and byte arrays back as JSON', () => {
    expect(
      fromFieldTable({
        time: { '!': 'timestamp', value: 1700000000 },
        price: { '!': 'decimal', value: { places: 2, digits: 1234 } },
        bytes: Buffer.from('hé'),
        list: [1, null, { x: true }],
      }),
    ).toEqual({ time: 1700000000, price: 12.34, bytes: 'hé', list: [1, null, { x: true }] });
  });

  it('converts a delivery it owns in place to the same JSON, and again to the same', () => {
    const decoded = () => ({
      id: 'abc',
      retries: 0,
      timelimit: [null, null],
      time: { '!': 'timestamp', value: 1700000000 },
      nested: { price: { '!': 'decimal', value: { places: 2, digits: 1234 } }, ok: true },
      list: [1, Buffer.from('hé'), { when: { '!': 'timestamp', value: 5 } }],
    });
    const table = decoded();
    const json = fromOwnedFieldTable(table);
    expect(json).toBe(table);
    expect(json).toEqual(fromFieldTable(decoded()));
    expect(fromOwnedFieldTable(json)).toEqual(fromFieldTable(decoded()));
    expect(fromOwnedFieldTable(undefined)).toEqual({});
  });
});

describe('native delayed delivery (Celery 5.5+)', () => {
  it('spells a countdown as Celery 5.6 did for add.apply_async((2, 3), countdown=10)', () => {
    const ops = loadVector('celery-5.6.3', 'amqp', 'send_quorum_queue_countdown.json')
      .client_amqp_ops as JsonObject[];
    const delayed = ops.find(
      (op) => op.kind === 'basic_publish' && op.exchange === 'celery_delayed_27',
    )!;
    expect(delayedRoute(10, 'celery')).toEqual({
      exchange: 'celery_delayed_27',
      routingKey: delayed.routing_key,
    });
  });

  it('never rounds a delay down, and refuses what 28 levels cannot hold', () => {
    expect(delaySecondsUntil(10_001, 10_000)).toBe(1);
    expect(delaySecondsUntil(12_000, 10_000)).toBe(2);
    expect(delaySecondsUntil(9_000, 10_000)).toBe(0);
    expect(() => delayedRoute(MAX_DELAY_SECONDS + 1, 'q')).toThrow(RangeError);
  });

  it('declares level n with a 2^n s TTL dead-lettering into level n-1, level 0 into the delivery exchange', () => {
    const levels = levelDeclarations('quorum');
    expect(levels).toHaveLength(28);
    expect(levels[0]).toMatchObject({
      queue: 'celery_delayed_27',
      queuePattern: '1.#',
      next: { exchange: 'celery_delayed_26', pattern: '0.#' },
    });
    expect(levels[27]!.arguments['x-dead-letter-exchange']).toBe('celery_delayed_delivery');
    expect(levels[27]!.arguments['x-message-ttl']).toEqual({ '!': 'int', value: 1000 });
    expect(deliveryBindingPattern('q')).toBe(`${'*.'.repeat(28)}q`);
  });
});

describe('reading py-amqp’s 64-bit tag', () => {
  it('rewrites L to l inside nested tables and arrays, and nothing else', () => {
    // flags: headers only; table { a: L 5, b: A [ L 7 ], c: S "L", d: F { e: L -1 } }
    const build = (tag: 'L' | 'l') => {
      const entry = (key: string, value: Buffer) =>
        Buffer.concat([Buffer.from([key.length]), Buffer.from(key), value]);
      const long = (n: number) => {
        const b = Buffer.alloc(9);
        b.write(tag, 0, 'latin1');
        b.writeBigInt64BE(BigInt(n), 1);
        return b;
      };
      const inner = entry('e', long(-1));
      const table = Buffer.concat([
        entry('a', long(5)),
        entry('b', Buffer.concat([Buffer.from('A'), u32(9), long(7)])),
        entry('c', Buffer.concat([Buffer.from('S'), u32(1), Buffer.from('L')])),
        entry('d', Buffer.concat([Buffer.from('F'), u32(inner.length), inner])),
      ]);
      return Buffer.concat([Buffer.from([0x20, 0x00]), u32(table.length), table]);
    };
    const props = build('L');
    rewriteLongTags(props);
    expect(props.equals(build('l'))).toBe(true);
  });

  it('leaves a table without an L tag as it is, whatever follows the table', () => {
    // flags: headers + correlation_id; table { a: I 5 }, then correlation_id "L"
    const table = Buffer.concat([Buffer.from([1]), Buffer.from('aI'), u32(5)]);
    const props = Buffer.concat([
      Buffer.from([0x24, 0x00]),
      u32(table.length),
      table,
      Buffer.from([1]),
      Buffer.from('L'),
    ]);
    const before = Buffer.from(props);
    rewriteLongTags(props);
    expect(props.equals(before)).toBe(true);
  });
});

describe('message properties', () => {
  it('drops expiration for delayed publishes and RabbitMQ’s x-death headers for republishes', () => {
    const message = {
      body: Buffer.from('[]'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { id: 'x', 'x-death': [{ count: 1 }], 'x-first-death-queue': 'q' },
      properties: {
        correlation_id: 'x',
        reply_to: 'r',
        delivery_mode: 2,
        priority: 0,
        expiration: '60000',
      },
    };
    const delayed = toPublishOptions(message, { delayed: true, republish: true });
    expect(delayed.expiration).toBeUndefined();
    expect(Object.keys(delayed.headers as object)).toEqual(['id']);
    const direct = toPublishOptions(message, { priority: 7 });
    expect(direct).toMatchObject({
      expiration: '60000',
      priority: 7,
      correlationId: 'x',
      replyTo: 'r',
      deliveryMode: 2,
    });
  });

  it('reports delivery_info as kombu does', () => {
    const message = fromAmqpMessage({
      content: Buffer.from('[]'),
      fields: { deliveryTag: 1, redelivered: true, exchange: '', routingKey: 'celery' },
      properties: {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { id: 'x' },
        deliveryMode: 2,
        priority: 0,
        correlationId: 'x',
        replyTo: 'r',
        expiration: undefined,
        messageId: undefined,
        timestamp: undefined,
        type: undefined,
        userId: undefined,
        appId: undefined,
        clusterId: undefined,
      },
    });
    expect(message.properties).toEqual({
      delivery_info: { exchange: '', routing_key: 'celery', redelivered: true },
      correlation_id: 'x',
      reply_to: 'r',
      delivery_mode: 2,
      priority: 0,
    });
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
