/**
 * Runs the shared broker conformance suite against Redis: each test gets its own key
 * prefix (kombu's global_keyprefix) on the shared Redis and deletes only its own keys.
 */
import { describeBrokerConformance } from '../../../src/testing/broker-conformance.js';
import { createRedisBroker } from '../../../src/brokers/redis/index.js';
import { decodeEnvelope } from '../../../src/protocol/kombu-envelope.js';
import { requireService } from '../../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL } from './redis-test-support.js';

describeBrokerConformance('redis', async ({ test, id }) => {
  await requireService(test, 'redis');
  const keyPrefix = `celeriac-test:${id}:`;
  const open = async () => {
    const broker = createRedisBroker(REDIS_URL, { keyPrefix, leaseMs: 2000 });
    await broker.connect();
    return broker;
  };
  const broker = await open();
  const raw = rawClient();
  return {
    broker,
    queue: (suffix) => `${id}-${suffix}`,
    openAnother: open,
    redeliveryWithinMs: 4000,
    injectMalformed: async (queue) => {
      await raw.lpush(`${keyPrefix}${queue}`, 'this is {not an envelope');
    },
    deadLetters: async (queue) =>
      (await broker.deadLetters(queue)).map((entry) => {
        const headers = decodeEnvelope(entry.envelope).headers;
        return {
          id: typeof headers.id === 'string' ? headers.id : undefined,
          reason: entry.reason,
        };
      }),
    cleanup: async () => {
      await broker.close();
      await deleteByPrefix(raw, keyPrefix);
      raw.disconnect();
    },
  };
});
