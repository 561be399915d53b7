/**
 * Runs the result-backend conformance suite against the SQLite backend, each test on its
 * own temporary file, plus once on the shared in-memory database.
 */
import { describeBackendConformance } from '../../../src/testing/backend-conformance.js';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import { removeDb, tempDbPath } from '../../brokers/sqlite/temp-db.js';

describeBackendConformance('sqlite file', async ({ id }) => {
  const file = tempDbPath(id);
  const open = async () => {
    const backend = new SqliteBackend(`sqlite://${file}`);
    await backend.connect();
    return backend;
  };
  const backend = await open();
  return {
    backend,
    openAnother: open,
    cleanup: async () => {
      await backend.close();
      removeDb(file);
    },
  };
});

describeBackendConformance('sqlite :memory:', async ({ id }) => {
  const open = async () => {
    const backend = new SqliteBackend('sqlite://:memory:', { keyPrefix: `${id}_` });
    await backend.connect();
    return backend;
  };
  const backend = await open();
  return { backend, openAnother: open, cleanup: () => backend.close() };
});
