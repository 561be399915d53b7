/**
 * Runs the broker conformance suite against the SQLite broker, each test on its own
 * temporary file, plus once on the shared in-memory database.
 */
import { describeBrokerConformance } from '../../../src/testing/broker-conformance.js';
import { SqliteBroker } from '../../../src/brokers/sqlite/index.js';
import { removeDb, tempDbPath } from './temp-db.js';

describeBrokerConformance('sqlite file', async ({ id }) => {
  const file = tempDbPath(id);
  const open = async () => {
    const broker = new SqliteBroker(`sqlite://${file}`, { leaseMs: 2000 });
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
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(file);
      db.prepare(
        `INSERT INTO celeriac_messages (queue, created_at, envelope) VALUES (?, ?, ?)`,
      ).run(queue, Date.now(), '{not json');
      db.close();
    },
    deadLetters: async (queue) =>
      (await broker.deadLetters(queue)).map((dead) => ({
        id: typeof dead.message?.headers.id === 'string' ? dead.message.headers.id : undefined,
        reason: dead.reason,
      })),
    redeliveryWithinMs: 2000,
    cleanup: async () => {
      await broker.close();
      removeDb(file);
    },
  };
});

describeBrokerConformance('sqlite :memory:', async ({ id }) => {
  const broker = new SqliteBroker('sqlite://:memory:', { keyPrefix: `${id}_` });
  await broker.connect();
  return {
    broker,
    queue: (suffix) => `${id}-${suffix}`,
    openAnother: async () => {
      const another = new SqliteBroker('sqlite://:memory:', { keyPrefix: `${id}_` });
      await another.connect();
      return another;
    },
    cleanup: () => broker.close(),
  };
});
