/**
 * A large publishMany on PostgreSQL (more rows than one pipelined statement holds): every
 * row lands, in order, and a failure in a later chunk leaves none of the earlier ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresBroker } from '../../../src/brokers/postgres/postgres-broker.js';
import { PIPELINE_CHUNK, joinEnvelopes } from '../../../src/brokers/postgres/message-store.js';
import type { TransportMessage } from '../../../src/protocol/types.js';
import { requireService } from '../../support/services.js';
import { testSchema, type TestSchema } from '../../support/postgres.js';

let pg: TestSchema | undefined;
let broker: PostgresBroker | undefined;
afterEach(async () => {
  await broker?.close();
  await pg?.drop();
  broker = pg = undefined;
});

function message(n: number): TransportMessage {
  return {
    body: Buffer.from(JSON.stringify([[n], {}, {}])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { task: 't', id: `id-${n}` },
    properties: { delivery_mode: 2, priority: 0 },
  };
}

describe('joinEnvelopes', () => {
  const row = (envelope: string) => ({
    queue: 'q',
    priority: 0,
    deliverAt: 0,
    expiresAt: 0,
    envelope,
  });

  it('writes the UTF-8 bytes of the envelopes joined by U+001E, wide text included', () => {
    const envelopes = ['{"a": 1}', '{"b": "é"}', '{"c": "😀😀😀"}', '', '{"d": "ascii"}'];
    const joined = joinEnvelopes(envelopes.map(row));
    expect(joined.toString('utf8')).toBe(envelopes.join('\x1e'));
    expect(joinEnvelopes([row('😀'.repeat(50))]).toString('utf8')).toBe('😀'.repeat(50));
  });

  it('refuses an envelope holding a raw U+001E', () => {
    expect(() => joinEnvelopes([row('{"a": 1}'), row('{"b": "\x1e"}')])).toThrow(/U\+001E/);
  });
});

describe('bulk publish on PostgreSQL', () => {
  it('publishes a batch of several chunks whole and in order', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('bulk');
    broker = new PostgresBroker(pg.url);
    const count = PIPELINE_CHUNK * 3 + 17;
    await broker.publishMany(
      Array.from({ length: count }, (_, n) => ({
        message: message(n),
        options: { queue: 'bulk' },
      })),
    );
    expect(await broker.queueLength('bulk')).toBe(count);
    const client = await pg.client();
    const { rows } = await client.query<{ envelope: string }>(
      `SELECT envelope FROM "${pg.schema}".messages ORDER BY id`,
    );
    const ids = rows.map(
      (row) => (JSON.parse(row.envelope) as { headers: { id: string } }).headers.id,
    );
    expect(ids).toEqual(Array.from({ length: count }, (_, n) => `id-${n}`));
  });

  it('stores nothing when a later chunk fails', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('bulk_fail');
    broker = new PostgresBroker(pg.url);
    const count = PIPELINE_CHUNK * 2 + 5;
    // A NUL in a queue name is refused by PostgreSQL's jsonb: the second chunk fails.
    const batch = Array.from({ length: count }, (_, n) => ({
      message: message(n),
      options: { queue: n === PIPELINE_CHUNK + 3 ? 'bad\u0000queue' : 'bulk' },
    }));
    await expect(broker.publishMany(batch)).rejects.toThrow(/Could not publish/);
    expect(await broker.queueLength('bulk')).toBe(0);
    // The broker goes on publishing (the connection was handed back clean).
    await broker.publishMany([{ message: message(1), options: { queue: 'bulk' } }]);
    expect(await broker.queueLength('bulk')).toBe(1);
  });
});
