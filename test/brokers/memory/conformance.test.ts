/**
 * Runs the broker conformance suite against the memory:// broker, each test on its own
 * named store; another connection to the same name is the "other process" view.
 */
import { describeBrokerConformance } from '../../../src/testing/conformance.js';
import { MemoryBroker } from '../../../src/brokers/memory/index.js';

describeBrokerConformance('memory', async ({ id }) => {
  const open = async () => {
    const broker = new MemoryBroker(id);
    await broker.connect();
    return broker;
  };
  const broker = await open();
  return {
    broker,
    queue: (suffix) => `${id}-${suffix}`,
    openAnother: open,
    deadLetters: async (queue) =>
      (await broker.deadLetters(queue)).map((dead) => ({
        id: typeof dead.message.headers.id === 'string' ? dead.message.headers.id : undefined,
        reason: dead.reason,
      })),
    redeliveryWithinMs: 500,
    cleanup: () => broker.close(),
  };
});
