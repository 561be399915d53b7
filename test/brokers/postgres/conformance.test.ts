/**
 * Runs the broker conformance suite against the PostgreSQL broker, each test in a schema
 * of its own (dropped after).
 */
import { describeBrokerConformance } from '../../../src/testing/broker-conformance.js';
import { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import { requireService } from '../../support/services.js';
import { testSchema } from '../../support/postgres.js';

describeBrokerConformance('postgres', async ({ test, id }) => {
  await requireService(test, 'postgres');
  const pg = testSchema(id);
  const open = async () => {
    const broker = new PostgresBroker(pg.url, { leaseMs: 2000 });
    await broker.connect();
    return broker;
  };
  const broker = await open();
  return {
    broker,
    queue: (suffix) => `${id}-${suffix}`,
    openAnother: open,
    injectMalformed: async (queue) => {
      // A row a broken client could write: valid column values, an envelope that is not JSON.
      const client = await pg.client();
      await client.query(
        `INSERT INTO "${pg.schema}".messages (queue, created_at, envelope) VALUES ($1, $2, $3)`,
        [queue, Date.now(), '{not json'],
      );
    },
    deadLetters: async (queue) =>
      (await broker.deadLetters(queue)).map((dead) => ({
        id: typeof dead.message?.headers.id === 'string' ? dead.message.headers.id : undefined,
        reason: dead.reason,
      })),
    redeliveryWithinMs: 2000,
    cleanup: async () => {
      await broker.close();
      await pg.drop();
    },
  };
});
