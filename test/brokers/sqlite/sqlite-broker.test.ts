/**
 * What only the SQLite broker shows, in one process: settling by (id, lease owner) after
 * a lost lease, dead letters with their reasons, acks durable before they resolve, defer
 * as one UPDATE of the same row, leases released at close, priorities across queues,
 * key-prefix isolation, and delayed rows that never slow a claim.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteBroker, UndecodableMessageError } from '../../../src/brokers/sqlite/index.js';
import { Inbox, makeMessage, sleep, waitFor } from '../../../src/testing/broker-conformance.js';
import { removeDb, tempDbPath } from './temp-db.js';

let file: string;
let raw: Database.Database;
const opened: SqliteBroker[] = [];

async function openBroker(
  options: { leaseMs?: number; keyPrefix?: string } = {},
): Promise<SqliteBroker> {
  const broker = new SqliteBroker(`sqlite://${file}`, options);
  await broker.connect();
  opened.push(broker);
  return broker;
}

async function consume(broker: SqliteBroker, queues: string[], prefetch = 10): Promise<Inbox> {
  const inbox = new Inbox();
  await broker.consume({ queues, prefetch, onDelivery: inbox.onDelivery, onError: inbox.onError });
  return inbox;
}

const rows = (sql: string, ...params: unknown[]) =>
  raw.prepare(sql).all(...params) as Array<Record<string, unknown>>;

beforeEach(async () => {
  file = tempDbPath('broker');
  await openBroker(); // creates the schema before the raw connection looks
  raw = new Database(file);
});

afterEach(async () => {
  raw.close();
  for (const broker of opened.splice(0)) await broker.close();
  removeDb(file);
});

describe('SQLite broker', () => {
  it('settles by (id, lease owner): a stale ack after a lost lease leaves the new owner’s row alone', async () => {
    const [a, b] = [await openBroker({ leaseMs: 60_000 }), await openBroker({ leaseMs: 60_000 })];
    await a.publish(makeMessage('contested'), { queue: 'q' });
    const first = await consume(a, ['q'], 1);
    const [stale] = await first.waitCount(1);
    // As if A's process had stalled past its lease: the lease ends without A renewing it.
    raw.prepare('UPDATE celeriac_messages SET lease_until = 1').run();
    const second = await consume(b, ['q'], 1);
    const [fresh] = await second.waitCount(1);
    expect(fresh!.redelivered).toBe(true);
    await stale!.ack();
    expect(rows('SELECT id FROM celeriac_messages')).toHaveLength(1);
    await waitFor('a lease-lost report', () =>
      first.errors.some((e) => /lease had expired/.test(e.message)),
    );
    await fresh!.ack();
    expect(rows('SELECT id FROM celeriac_messages')).toHaveLength(0);
  });

  it('commits an ack before ack() resolves (another connection sees the row gone)', async () => {
    const broker = await openBroker();
    await broker.publishMany(
      Array.from({ length: 20 }, (_, i) => ({
        message: makeMessage(`d-${i}`),
        options: { queue: 'q' },
      })),
    );
    const inbox = await consume(broker, ['q'], 20);
    const deliveries = await inbox.waitCount(20);
    for (const delivery of deliveries) {
      await delivery.ack();
      expect(
        rows(
          'SELECT id FROM celeriac_messages WHERE envelope LIKE ?',
          `%${JSON.stringify(delivery.message.headers.id)}%`,
        ),
      ).toEqual([]);
    }
  });

  it('dead-letters a rejected message with its reason, and an undecodable row with a clear one', async () => {
    const broker = await openBroker();
    await broker.publish(makeMessage('bad-args'), { queue: 'q' });
    const inbox = await consume(broker, ['q'], 5);
    const [delivery] = await inbox.waitCount(1);
    await delivery!.reject({ requeue: false, reason: 'invalid arguments: x must be a number' });
    raw
      .prepare('INSERT INTO celeriac_messages (queue, created_at, envelope) VALUES (?, ?, ?)')
      .run('q', Date.now(), '["not an envelope"]');
    await waitFor('the undecodable row reported', () => inbox.errors.length > 0);
    expect(inbox.errors[0]).toBeInstanceOf(UndecodableMessageError);
    expect(inbox.errors[0]!.message).toMatch(/cannot be decoded/);
    const dead = await broker.deadLetters('q');
    expect(dead.map((d) => [d.message?.headers.id, d.reason])).toEqual([
      ['bad-args', 'invalid arguments: x must be a number'],
      [undefined, expect.stringMatching(/cannot be decoded/) as unknown],
    ]);
    expect(dead[1]!.envelope).toBe('["not an envelope"]');
    expect(inbox.ids).toEqual(['bad-args']);
    expect(rows('SELECT id FROM celeriac_messages')).toEqual([]);
  });

  it('defers by updating the same row: same id, lease cleared, deliver_at set', async () => {
    const broker = await openBroker();
    await broker.publish(makeMessage('later'), { queue: 'q' });
    const [before] = rows('SELECT id FROM celeriac_messages');
    const inbox = await consume(broker, ['q'], 1);
    const [delivery] = await inbox.waitCount(1);
    const deliverAt = Date.now() + 60_000;
    await delivery!.defer(deliverAt);
    expect(rows('SELECT id, deliver_at, lease_owner, lease_until FROM celeriac_messages')).toEqual([
      { id: before!.id, deliver_at: deliverAt, lease_owner: null, lease_until: 0 },
    ]);
    expect(await broker.queueLength('q')).toBe(0);
  });

  it('releases held leases at close, so another consumer gets them at once, flagged redelivered', async () => {
    const [a, b] = [await openBroker({ leaseMs: 60_000 }), await openBroker({ leaseMs: 60_000 })];
    await a.publish(makeMessage('held'), { queue: 'q' });
    const first = await consume(a, ['q'], 1);
    await first.waitCount(1);
    await a.close();
    const second = await consume(b, ['q'], 1);
    const [again] = await second.waitCount(1, 500);
    expect(again!.redelivered).toBe(true);
    await again!.ack();
  });

  it('serves the highest priority first across all the queues of a consumer', async () => {
    const broker = await openBroker();
    await broker.publish(makeMessage('a-low'), { queue: 'a', priority: 1 });
    await broker.publish(makeMessage('b-high'), { queue: 'b', priority: 9 });
    await broker.publish(makeMessage('a-mid'), { queue: 'a', priority: 5 });
    const inbox = await consume(broker, ['a', 'b'], 1);
    for (let i = 1; i <= 3; i++) await (await inbox.waitCount(i))[i - 1]!.ack();
    expect(inbox.ids).toEqual(['b-high', 'a-mid', 'a-low']);
  });

  it('keeps brokers with different key prefixes apart in one file', async () => {
    const [one, two] = [
      await openBroker({ keyPrefix: 'one_' }),
      await openBroker({ keyPrefix: 'two_' }),
    ];
    await one.publish(makeMessage('for-one'), { queue: 'q' });
    const inbox = await consume(two, ['q']);
    await sleep(200);
    expect(inbox.ids).toEqual([]);
    expect(await one.queueLength('q')).toBe(1);
    const tables = rows(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'one_%'`,
    ).map((r) => r.name);
    expect(tables.sort()).toEqual(['one_dead_letters', 'one_messages']);
  });

  it('claims a ready message at once behind thousands of delayed ones', async () => {
    const broker = await openBroker();
    const later = Date.now() + 3_600_000;
    await broker.publishMany(
      Array.from({ length: 5000 }, (_, i) => ({
        message: makeMessage(`late-${i}`),
        options: { queue: 'q', deliverAt: later, priority: 9 },
      })),
    );
    await broker.publish(makeMessage('now'), { queue: 'q' });
    expect(await broker.queueLength('q')).toBe(1);
    const inbox = await consume(broker, ['q'], 10);
    const [now] = await inbox.waitCount(1, 1000);
    expect(now!.message.headers.id).toBe('now');
    const plan = rows(
      `EXPLAIN QUERY PLAN SELECT id FROM celeriac_messages WHERE queue = 'q' AND deliver_at = 0 AND lease_until <= 0 ORDER BY priority DESC, id`,
    );
    expect(plan.map((r) => r.detail).join(' ')).toMatch(/USING INDEX celeriac_messages_ready/);
  });

  it('gives each publish the queue and priority in delivery_info and properties, as kombu does', async () => {
    const broker = await openBroker();
    await broker.publish(makeMessage('props'), { queue: 'q', priority: 3 });
    const [row] = rows('SELECT envelope FROM celeriac_messages');
    const envelope = JSON.parse(String(row!.envelope)) as { properties: Record<string, unknown> };
    expect(envelope.properties).toMatchObject({
      priority: 3,
      delivery_info: { exchange: '', routing_key: 'q' },
      body_encoding: 'base64',
    });
    expect(typeof envelope.properties.delivery_tag).toBe('string');
  });
});
