/**
 * Runs the beat-store conformance suite against every store beat runs on: SQLite (a file
 * per test), Redis (a key prefix per test), PostgreSQL (a schema per test) and memory://
 * (a store name per test).
 */
import { describeBeatStoreConformance } from '../../src/testing/conformance.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { createRedisBackend } from '../../src/backends/redis/index.js';
import { createMemoryBackend } from '../../src/backends/memory/index.js';
import { PostgresBackend } from '../../src/backends/postgres/index.js';
import { testSchema } from '../support/postgres.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { removeDb, tempDbPath } from '../brokers/sqlite/temp-db.js';

describeBeatStoreConformance('sqlite', async ({ id }) => {
  const file = tempDbPath(id);
  const backend = new SqliteBackend(`sqlite://${file}`);
  await backend.connect();
  const store = backend.beatStore();
  return {
    store,
    openAnother: () => Promise.resolve(new SqliteBackend(`sqlite://${file}`).beatStore()),
    cleanup: async () => {
      await store.close();
      await backend.close();
      removeDb(file);
    },
  };
});

describeBeatStoreConformance('redis', async ({ test, id }) => {
  await requireService(test, 'redis');
  const keyPrefix = `celeriac-test:${id}:`;
  const backend = createRedisBackend(REDIS_URL, { keyPrefix });
  await backend.connect();
  const store = backend.beatStore();
  return {
    store,
    openAnother: () => Promise.resolve(createRedisBackend(REDIS_URL, { keyPrefix }).beatStore()),
    cleanup: async () => {
      await store.close();
      await backend.close();
      await deleteRedisPrefix(keyPrefix);
    },
  };
});

describeBeatStoreConformance('memory', async ({ id }) => {
  const open = async () => {
    const backend = createMemoryBackend(`memory://${id}`);
    await backend.connect();
    return backend;
  };
  const backend = await open();
  const others: Array<{ close(): Promise<void> }> = [];
  return {
    store: backend.beatStore(),
    openAnother: async () => {
      const other = await open();
      others.push(other);
      return other.beatStore();
    },
    cleanup: async () => {
      for (const other of others) await other.close();
      await backend.close();
    },
  };
});

describeBeatStoreConformance('postgres', async ({ test, id }) => {
  await requireService(test, 'postgres');
  const pg = testSchema(id);
  const backends: PostgresBackend[] = [];
  const open = async () => {
    const backend = new PostgresBackend(pg.url);
    backends.push(backend);
    await backend.connect();
    return backend.beatStore();
  };
  const store = await open();
  return {
    store,
    openAnother: open,
    cleanup: async () => {
      for (const backend of backends) await backend.close();
      await pg.drop();
    },
  };
});
