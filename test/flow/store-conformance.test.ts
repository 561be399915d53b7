/**
 * Runs the flow-store conformance suite against every store flow control runs on: SQLite
 * (a file per test), Redis (a key prefix per test), memory:// (a store name per test) and
 * PostgreSQL's backend, on the key-value base (a schema per test).
 */
import { describeFlowStoreConformance } from '../../src/testing/conformance.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { createRedisBackend } from '../../src/backends/redis/index.js';
import { createMemoryBackend } from '../../src/backends/memory/index.js';
import { PostgresBackend } from '../../src/backends/postgres/index.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { removeDb, tempDbPath } from '../brokers/sqlite/temp-db.js';

describeFlowStoreConformance('sqlite', async ({ id }) => {
  const file = tempDbPath(id);
  const backend = new SqliteBackend(`sqlite://${file}`);
  await backend.connect();
  return {
    store: backend.flowStore(),
    openAnother: () => Promise.resolve(new SqliteBackend(`sqlite://${file}`).flowStore()),
    cleanup: async () => {
      await backend.close();
      removeDb(file);
    },
  };
});

describeFlowStoreConformance('redis', async ({ test, id }) => {
  await requireService(test, 'redis');
  const keyPrefix = `celeriac-test:${id}:`;
  const backend = createRedisBackend(REDIS_URL, { keyPrefix });
  await backend.connect();
  return {
    store: backend.flowStore(),
    openAnother: () => Promise.resolve(createRedisBackend(REDIS_URL, { keyPrefix }).flowStore()),
    cleanup: async () => {
      await backend.close();
      await deleteRedisPrefix(keyPrefix);
    },
  };
});

describeFlowStoreConformance('memory', async ({ id }) => {
  const backend = createMemoryBackend(`memory://${id}`);
  await backend.connect();
  return { store: backend.flowStore(), cleanup: () => backend.close() };
});

describeFlowStoreConformance('postgres', async ({ test, id }) => {
  await requireService(test, 'postgres');
  const pg = testSchema(id);
  const open = async () => {
    const backend = new PostgresBackend(pg.url);
    await backend.connect();
    return backend;
  };
  const backend = await open();
  const others: PostgresBackend[] = [];
  return {
    store: backend.flowStore(),
    openAnother: async () => {
      const other = await open();
      others.push(other);
      return other.flowStore();
    },
    cleanup: async () => {
      for (const other of others) await other.close();
      await backend.close();
      await pg.drop();
    },
  };
});
