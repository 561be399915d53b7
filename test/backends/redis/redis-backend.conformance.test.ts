/**
 * Runs the shared result-backend conformance suite against Redis: each test gets its own
 * key prefix on the shared Redis and deletes only its own keys.
 */
import { describeBackendConformance } from '../../../src/testing/backend-conformance.js';
import { createRedisBackend } from '../../../src/backends/redis/index.js';
import { requireService } from '../../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL } from '../../brokers/redis/redis-test-support.js';

describeBackendConformance('redis', async ({ test, id }) => {
  await requireService(test, 'redis');
  const keyPrefix = `celeriac-test:${id}:`;
  const open = async () => {
    const backend = createRedisBackend(REDIS_URL, { keyPrefix });
    await backend.connect();
    return backend;
  };
  const backend = await open();
  return {
    backend,
    openAnother: open,
    cleanup: async () => {
      await backend.close();
      const raw = rawClient();
      await deleteByPrefix(raw, keyPrefix);
      raw.disconnect();
    },
  };
});
