/**
 * Runs the result-backend conformance suite against the PostgreSQL backend, each test in
 * a schema of its own (dropped after).
 */
import { describeBackendConformance } from '../../../src/testing/backend-conformance.js';
import { PostgresBackend } from '../../../src/backends/postgres/index.js';
import { requireService } from '../../support/services.js';
import { testSchema } from '../../support/postgres.js';

describeBackendConformance('postgres', async ({ test, id }) => {
  await requireService(test, 'postgres');
  const pg = testSchema(id);
  const open = async () => {
    const backend = new PostgresBackend(pg.url);
    await backend.connect();
    return backend;
  };
  const backend = await open();
  return {
    backend,
    openAnother: open,
    cleanup: async () => {
      await backend.close();
      await pg.drop();
    },
  };
});
