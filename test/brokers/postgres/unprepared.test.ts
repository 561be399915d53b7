/**
 * `preparedStatements: false` (for poolers that cannot keep prepared statements): the broker
 * publishes, claims, acknowledges and dead-letters with plain statements just the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import { Inbox, makeMessage, sleep } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { testSchema, type TestSchema } from '../../support/postgres.js';

let pg: TestSchema | undefined;
let broker: PostgresBroker | undefined;
afterEach(async () => {
  await broker?.close();
  await pg?.drop();
  broker = pg = undefined;
});

describe('PostgreSQL broker without prepared statements', () => {
  it('publishes, delivers, acks and dead-letters as with them', async (ctx) => {
    await requireService(ctx, 'postgres');
    pg = testSchema('unprepared');
    broker = new PostgresBroker(pg.url, { preparedStatements: false });
    await broker.connect();
    const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
    await broker.publishMany(
      ids.map((id) => ({ message: makeMessage(id), options: { queue: 'q' } })),
    );
    const inbox = new Inbox();
    await broker.consume({ queues: ['q'], prefetch: 5, onDelivery: inbox.onDelivery });
    const seen: string[] = [];
    while (seen.length < ids.length) {
      const [next] = (await inbox.waitCount(seen.length + 1, 5000)).slice(seen.length);
      seen.push(next!.message.headers.id as string);
      if (seen.length === ids.length) await next!.reject({ requeue: false, reason: 'last one' });
      else await next!.ack();
    }
    expect(seen).toEqual(ids);
    await sleep(200);
    expect(await broker.queueLength('q')).toBe(0);
    expect((await broker.deadLetters('q')).map((d) => d.reason)).toEqual(['last one']);
  });
});
