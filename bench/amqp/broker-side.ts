/**
 * Our broker layer on the same workload as raw-side.ts: `publishMany` (each message
 * confirmed) and a consumer acking every delivery at the same prefetch. The difference
 * to the raw figures is what the broker layer costs. Deletes its queue afterwards.
 */
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import { benchMessage } from './messages.js';

export interface BrokerFigures {
  publishPerSec: number;
  consumePerSec: number;
}

export async function measureBroker(
  url: string,
  queue: string,
  count: number,
  prefetch: number,
): Promise<BrokerFigures> {
  const broker = new AmqpBroker(url, {
    connectionName: 'celeriac-bench broker',
    declareReplyQueues: false,
  });
  await broker.connect();
  try {
    const batch = Array.from({ length: count }, () => ({
      message: benchMessage(),
      options: { queue },
    }));
    const started = performance.now();
    await broker.publishMany(batch);
    const publishMs = performance.now() - started;

    const consumeStarted = performance.now();
    let consumer: Awaited<ReturnType<AmqpBroker['consume']>> | undefined;
    await new Promise<void>((resolve, reject) => {
      let seen = 0;
      broker
        .consume({
          queues: [queue],
          prefetch,
          onDelivery: (delivery) => {
            delivery.ack().then(() => {
              if (++seen === count) resolve();
            }, reject);
          },
        })
        .then((started) => (consumer = started), reject);
    });
    const consumeMs = performance.now() - consumeStarted;
    await consumer?.cancel();
    await broker.purge(queue);
    return { publishPerSec: (count / publishMs) * 1000, consumePerSec: (count / consumeMs) * 1000 };
  } finally {
    await broker.close();
  }
}
