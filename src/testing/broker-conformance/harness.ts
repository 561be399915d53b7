/**
 * The shared pieces of the broker conformance suite: the harness type a broker's test
 * file provides, a message factory, and an inbox that records deliveries so tests can
 * wait for them. Broker-neutral: must never import a broker implementation or client.
 */
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'vitest';
import { sleep, waitFor } from '../wait.js';
import type { Broker, Consumer, Delivery } from '../../brokers/broker.js';
import type { TransportMessage } from '../../protocol/types.js';

/** What `make` receives: the running test (to skip it) and an id unique to this test. */
export interface BrokerConformanceContext {
  /** vitest's context of the running test; `ctx.skip(reason)` or `requireService(test, ...)` skip it. */
  test: TestContext;
  /** Short, unique, `[a-z0-9-]` only: derive queue names, key prefixes or file names from it. */
  id: string;
}

/** One test's broker, ready to use, and how to tear it down. */
export interface BrokerHarness {
  /** Connected. The suite never closes it: `cleanup` does. */
  broker: Broker;
  /** A queue name unique to this test, stable for the same suffix. */
  queue: (suffix: string) => string;
  /** Closes the broker and removes what the test left (files, keys, queues). */
  cleanup: () => Promise<void>;
  /**
   * Another connected broker on the same store (a second connection or process view),
   * which the suite closes itself. Without it, the redelivery-after-close test is skipped.
   */
  openAnother?: () => Promise<Broker>;
  /** Stores an undecodable message in `queue`, as a foreign or broken client could. */
  injectMalformed?: (queue: string) => Promise<void>;
  /** Dead-lettered messages of a queue (brokers with `capabilities.deadLetter`). */
  deadLetters?: (
    queue: string,
  ) => Promise<Array<{ id: string | undefined; reason: string | undefined }>>;
  /**
   * Why `Delivery.release` frees no prefetch slot on this broker (its server counts
   * unsettled messages itself, as AMQP's basic.qos does); the release test then skips with it.
   */
  releaseFreesNoSlot?: string;
  /** Why this broker, as set up, serves no priorities (e.g. queues without x-max-priority); the priority test then skips with it. */
  noPriorities?: string;
  /** Upper bound for a redelivery after a consumer's broker closes without acking. Default 10 000 ms. */
  redeliveryWithinMs?: number;
}

export type BrokerHarnessFactory = (
  ctx: BrokerConformanceContext,
) => Promise<BrokerHarness | { skip: string }>;

export function uniqueId(): string {
  return `c${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** A Celery-shaped task message; `headers.id` is its identity in assertions. */
export function makeMessage(id: string = randomUUID(), payload: number = 0): TransportMessage {
  const body = JSON.stringify([
    [payload],
    {},
    { callbacks: null, errbacks: null, chain: null, chord: null },
  ]);
  return {
    body: Buffer.from(body, 'utf8'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'py', task: 'conformance.echo', id, root_id: id, parent_id: null, retries: 0 },
    properties: {
      correlation_id: id,
      reply_to: 'conformance-reply',
      delivery_mode: 2,
      priority: 0,
    },
  };
}

export function idOf(delivery: Delivery): string {
  const id = delivery.message.headers.id;
  return typeof id === 'string' ? id : JSON.stringify(id);
}

export { sleep, waitFor };

/** Records deliveries with their arrival time and how many are held unsettled. */
export class Inbox {
  readonly deliveries: Array<{ delivery: Delivery; at: number }> = [];
  readonly errors: Error[] = [];
  held = 0;
  maxHeld = 0;

  readonly onDelivery = (delivery: Delivery): void => {
    this.deliveries.push({ delivery: this.track(delivery), at: Date.now() });
    this.held += 1;
    this.maxHeld = Math.max(this.maxHeld, this.held);
  };

  readonly onError = (error: Error): void => {
    this.errors.push(error);
  };

  get ids(): string[] {
    return this.deliveries.map((entry) => idOf(entry.delivery));
  }

  /** Waits until at least `count` deliveries arrived; returns the first `count`. */
  async waitCount(count: number, timeoutMs = 5000): Promise<Delivery[]> {
    await waitFor(
      `${count} deliveries (have ${this.deliveries.length})`,
      () => this.deliveries.length >= count,
      timeoutMs,
    );
    return this.deliveries.slice(0, count).map((entry) => entry.delivery);
  }

  /** Wraps settle calls so `held` counts unsettled deliveries. */
  private track(delivery: Delivery): Delivery {
    const settle =
      <T extends unknown[]>(fn: (...args: T) => Promise<void>) =>
      async (...args: T): Promise<void> => {
        this.held -= 1;
        await fn(...args);
      };
    return {
      message: delivery.message,
      queue: delivery.queue,
      redelivered: delivery.redelivered,
      ...(delivery.expired === undefined ? {} : { expired: delivery.expired }),
      ack: settle(() => delivery.ack()),
      reject: settle((options: { requeue: boolean; reason?: string }) => delivery.reject(options)),
      defer: settle((deliverAt: number) => delivery.defer(deliverAt)),
      release: () => delivery.release(),
    };
  }
}

/** Starts a consumer recording into a fresh inbox. */
export async function consumeInto(
  broker: Broker,
  queues: string[],
  prefetch: number,
): Promise<{ inbox: Inbox; consumer: Consumer }> {
  const inbox = new Inbox();
  const consumer = await broker.consume({
    queues,
    prefetch,
    onDelivery: inbox.onDelivery,
    onError: inbox.onError,
  });
  return { inbox, consumer };
}
