/**
 * A PostgreSQL broker that only publishes holds no LISTEN connection (it would take back
 * each of its own NOTIFYs); its first consumer LISTENs before claiming, and is woken by a
 * publish from another broker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresBroker } from '../../../src/brokers/postgres/postgres-broker.js';
import type { TransportMessage } from '../../../src/protocol/types.js';
import { requireService } from '../../support/services.js';
import { testSchema, type TestSchema } from '../../support/postgres.js';

let pg: TestSchema | undefined;
const brokers: PostgresBroker[] = [];
afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.close();
  await pg?.drop();
  pg = undefined;
});

const message: TransportMessage = {
  body: Buffer.from('[[], {}, {}]'),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { task: 't', id: 'listen-1' },
  properties: { delivery_mode: 2, priority: 0 },
};

async function listeners(schema: TestSchema): Promise<number> {
  const client = await schema.client();
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
    [schema.applicationName],
  );
  return rows[0]!.n;
}

describe('LISTEN from the first consume on', () => {
  it('publishes without a LISTEN connection; a consumer LISTENs and is woken', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('listen');
    const producer = new PostgresBroker(pg.url, { pollMs: 60_000 });
    const consumerSide = new PostgresBroker(pg.url, { pollMs: 60_000 });
    brokers.push(producer, consumerSide);
    await producer.publish(message, { queue: 'q' });
    expect(await listeners(pg)).toBe(0);
    const seen: string[] = [];
    const consumer = await consumerSide.consume({
      queues: ['q'],
      prefetch: 10,
      onDelivery: (delivery) => {
        seen.push(delivery.message.headers.id as string);
        void delivery.ack();
      },
    });
    expect(await listeners(pg)).toBe(1);
    await expect.poll(() => seen, { timeout: 5000 }).toEqual(['listen-1']);
    // Woken by NOTIFY, not by the (one-minute) poll.
    await producer.publish({ ...message, headers: { task: 't', id: 'listen-2' } }, { queue: 'q' });
    await expect.poll(() => seen, { timeout: 5000 }).toEqual(['listen-1', 'listen-2']);
    await consumer.cancel();
  });
});
