/**
 * Reference figures printed after the comparison, to tell where time goes: the Redis
 * broker alone (publish, claim, ack; no worker, no results), and the worker pipeline alone
 * (decode, admit, run, build the result; no broker or backend I/O at all), which bounds
 * what any broker can reach through the worker on this machine.
 * Must never be mistaken for the comparison: these have no BullMQ counterpart.
 */
import type { Broker, ConsumeOptions, Delivery } from '../../src/brokers/broker.js';
import type { ResultBackend } from '../../src/backends/backend.js';
import { createRedisBroker } from '../../src/brokers/redis/index.js';
import { decodeDelivery, encodeWire, toWire } from '../../src/brokers/redis/wire.js';
import { Celeriac } from '../../src/index.js';
import { encodeTaskMessage } from '../../src/protocol/task-message.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { Worker } from '../../src/worker/worker.js';
import { rate, wallClock } from '../support.js';

function noopMessage(): TransportMessage {
  return encodeTaskMessage({
    task: 'bench.noop',
    id: crypto.randomUUID(),
    args: [],
    kwargs: {},
    eta: null,
    expires: null,
    retries: 0,
    timeLimit: null,
    softTimeLimit: null,
    rootId: null,
    parentId: null,
    groupId: null,
    groupIndex: null,
    shadow: null,
    origin: 'bench@localhost',
    ignoreResult: false,
    replyTo: 'bench',
    priority: 0,
    routingKey: 'celery',
  });
}

/** Messages per second through the Redis broker alone: claim and ack, acking as they come. */
export async function brokerLayerRate(
  url: string,
  keyPrefix: string,
  count: number,
  prefetch: number,
): Promise<number> {
  const broker = createRedisBroker(url, { keyPrefix });
  await broker.connect();
  try {
    for (let i = 0; i < count; i += 1000) {
      await broker.publishMany(
        Array.from({ length: Math.min(1000, count - i) }, () => ({
          message: noopMessage(),
          options: { queue: 'layer' },
        })),
      );
    }
    const start = wallClock();
    let acked = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const consumer = await broker.consume({
      queues: ['layer'],
      prefetch,
      onDelivery: (delivery) => {
        void delivery.ack().then(() => {
          if (++acked === count) finish();
        });
      },
    });
    await finished;
    const result = rate(count, wallClock() - start);
    await consumer.cancel();
    return result;
  } finally {
    await broker.purge('layer');
    await broker.close();
  }
}

/** Tasks per second through the worker with a broker and backend that do no I/O. */
export async function workerCeiling(count: number, concurrency: number): Promise<number> {
  const envelopes = Array.from({ length: count }, () =>
    encodeWire(toWire(noopMessage(), '', 'celery', 0), crypto.randomUUID()),
  );
  let next = 0;
  const broker: Broker = {
    kind: 'memory',
    capabilities: { delayedDelivery: true, deadLetter: true },
    connect: () => Promise.resolve(),
    publish: () => Promise.resolve(),
    publishMany: () => Promise.resolve(),
    purge: () => Promise.resolve(0),
    queueLength: () => Promise.resolve(0),
    close: () => Promise.resolve(),
    consume: (options: ConsumeOptions) => {
      let held = 0;
      const fill = (): void => {
        while (held < options.prefetch && next < envelopes.length) {
          held++;
          const { message } = decodeDelivery(envelopes[next++] as string);
          const settle = (): Promise<void> => {
            held--;
            queueMicrotask(fill);
            return Promise.resolve();
          };
          const delivery: Delivery = {
            message,
            queue: 'celery',
            redelivered: false,
            ack: settle,
            reject: settle,
            defer: settle,
            release: () => undefined,
          };
          options.onDelivery(delivery);
        }
      };
      setImmediate(fill);
      return Promise.resolve({ cancel: () => Promise.resolve() });
    },
  };
  const none = () => Promise.resolve(undefined);
  const backend = {
    kind: 'memory',
    connect: none,
    store: none,
    get: none,
    forget: none,
    revoke: none,
    close: none,
    isRevoked: () => false,
    subscribe: () => Promise.resolve(none),
    onRevoke: () => Promise.resolve(none),
  } satisfies ResultBackend;
  const app = new Celeriac({ broker, backend });
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  app.task('bench.noop', () => {
    if (++done === count) finish();
    return null;
  });
  const silent = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const worker = new Worker(app, { concurrency, logger: silent });
  const start = wallClock();
  await worker.start();
  await finished;
  const result = rate(count, wallClock() - start);
  await worker.stop();
  return result;
}
