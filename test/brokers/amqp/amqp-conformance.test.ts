/**
 * The shared broker conformance suite against RabbitMQ, twice: classic queues with
 * priorities and dead-lettering switched on (so those tests run too), and quorum queues
 * (whose prefetch works differently). Each test gets uniquely named queues on `/` (no
 * management API here to create vhosts), deleted afterwards with their exchanges and
 * dead-letter queues. The shared `celery_delayed_*` levels stay, as a Celery worker leaves them.
 */
import { describeBrokerConformance } from '../../../src/testing/broker-conformance.js';
import { AmqpBroker } from '../../../src/brokers/amqp/index.js';
import type { AmqpBrokerOptions } from '../../../src/brokers/amqp/index.js';
import type { BrokerHarnessFactory } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { AMQP_URL, openAdmin } from './support.js';

const harness =
  (variant: AmqpBrokerOptions): BrokerHarnessFactory =>
  async ({ test, id }) => {
    await requireService(test, 'rabbitmq');
    const options: AmqpBrokerOptions = {
      ...variant,
      connectionName: `celeriac-test ${id}`,
      deadLetter: true,
      publishTimeoutMs: 10_000,
      // The suite's messages all name the same reply_to; no rpc:// here, so no reply queue.
      declareReplyQueues: false,
    };
    const broker = new AmqpBroker(AMQP_URL, options);
    await broker.connect();
    const admin = await openAdmin();
    const names = new Set<string>();
    return {
      broker,
      queue: (suffix) => {
        const name = `${id}-${suffix}`;
        names.add(name);
        return name;
      },
      openAnother: async () => {
        const another = new AmqpBroker(AMQP_URL, options);
        await another.connect();
        return another;
      },
      ...(variant.maxPriority === undefined
        ? { noPriorities: 'queues declared without maxPriority (x-max-priority)' }
        : {}),
      releaseFreesNoSlot:
        'RabbitMQ counts unsettled deliveries against basic.qos itself: release() has nothing to free',
      deadLetters: async (queue) => {
        const messages = await admin.drain(broker.deadLetterQueueName(queue));
        return messages.map((message) => {
          const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
          return {
            id: typeof headers.id === 'string' ? headers.id : undefined,
            reason:
              typeof headers['x-celeriac-reason'] === 'string'
                ? headers['x-celeriac-reason']
                : undefined,
          };
        });
      },
      redeliveryWithinMs: 2000,
      cleanup: async () => {
        await broker.close();
        const queues = [...names].flatMap((name) => [name, `${name}.dead-letter`]);
        await admin.remove({ queues, exchanges: [...names] });
        await admin.close();
      },
    };
  };

describeBrokerConformance('amqp classic queues (RabbitMQ)', harness({ maxPriority: 10 }));
describeBrokerConformance('amqp quorum queues (RabbitMQ)', harness({ queueType: 'quorum' }));
