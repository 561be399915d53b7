/**
 * One conformance test's view of its harness: opens it (or skips the test with the
 * harness's reason), tracks the consumers and extra brokers the test starts, and tears
 * everything down when the test finishes, pass or fail. Must never leave a consumer
 * running past its test.
 */
import type { TestContext } from 'vitest';
import type { Broker, Consumer } from '../../brokers/broker.js';
import {
  consumeInto,
  type BrokerHarness,
  type BrokerHarnessFactory,
  type Inbox,
  uniqueId,
} from './harness.js';

export interface Session {
  readonly harness: BrokerHarness;
  readonly broker: Broker;
  queue(suffix: string): string;
  /** A consumer on `broker` (default: the harness's) recording into a fresh inbox. */
  consume(
    queues: string[],
    prefetch: number,
    broker?: Broker,
  ): Promise<{ inbox: Inbox; consumer: Consumer }>;
  /** Another broker on the same store, closed at the end unless the test closed it. */
  another(): Promise<Broker>;
}

export async function openSession(ctx: TestContext, make: BrokerHarnessFactory): Promise<Session> {
  const made = await make({ test: ctx, id: uniqueId() });
  if ('skip' in made) ctx.skip(made.skip);
  const harness = made;
  const consumers: Consumer[] = [];
  const extra: Broker[] = [];
  ctx.onTestFinished(async () => {
    // Cancel before closing so no consumer polls a closed store.
    for (const consumer of consumers) await consumer.cancel().catch(() => undefined);
    for (const broker of extra) await broker.close().catch(() => undefined);
    await harness.cleanup();
  });
  return {
    harness,
    broker: harness.broker,
    queue: (suffix) => harness.queue(suffix),
    async consume(queues, prefetch, broker = harness.broker) {
      const started = await consumeInto(broker, queues, prefetch);
      consumers.push(started.consumer);
      return started;
    },
    async another() {
      if (!harness.openAnother)
        ctx.skip('the harness cannot open a second broker on the same store');
      const broker = await harness.openAnother();
      extra.push(broker);
      return broker;
    },
  };
}
