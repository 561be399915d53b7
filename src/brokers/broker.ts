/**
 * The broker contract: the few primitives every broker implements. A broker moves
 * `TransportMessage`s between named queues; it never decodes a task, never runs one, and
 * never decides policy (retries, dead-lettering rules): the worker does.
 */
import type { TransportMessage } from '../protocol/types.js';

/** What a broker can do natively; the core emulates the rest once, not per broker. */
export interface BrokerCapabilities {
  /**
   * Holds a message until a future time without occupying a consumer (`publish({ deliverAt })`,
   * `defer`). When false, the core never asks for either: the app publishes at once and the
   * worker holds a message that is not due, unsettled and outside its running slots.
   */
  readonly delayedDelivery: boolean;
  /**
   * Moves rejected messages to a dead-letter store the user can inspect. The worker's log
   * line for a rejected message says which happened: dead-lettered, or dropped.
   */
  readonly deadLetter: boolean;
  /**
   * Writes a publish through a transaction the caller holds open on the broker's own store
   * (`PublishOptions.transaction`), so the message exists only if that transaction commits.
   * When absent or false, the core refuses a publish that names a transaction.
   */
  readonly transactionalPublish?: boolean;
}

export interface PublishOptions {
  /** The queue (routing key) to publish to. */
  queue: string;
  /** Unix time in ms before which the message must not be delivered (only on brokers with `delayedDelivery`). */
  deliverAt?: number;
  /** 0..255; higher is served first. Brokers without priorities ignore it. */
  priority?: number;
  /**
   * Unix time in ms after which the message must not run (the task's `expires`). A broker
   * that can drops such a message when it would deliver it and hands it on flagged
   * `Delivery.expired`; others ignore it, and the worker checks the message's own `expires`.
   */
  expiresAt?: number;
  /**
   * An open transaction of the caller's on the broker's own store, for brokers with
   * `capabilities.transactionalPublish` (PostgreSQL: a `pg` client inside `BEGIN`). Opaque
   * to the core; the broker writes the message through it, so a rollback leaves no message.
   */
  transaction?: unknown;
}

/** One message handed to a consumer. Settle it exactly once with `ack`, `reject` or `defer`. */
export interface Delivery {
  readonly message: TransportMessage;
  readonly queue: string;
  /** True when the broker delivered it before and it was never acknowledged. */
  readonly redelivered: boolean;
  /**
   * Past `PublishOptions.expiresAt` when the broker would have delivered it: the broker has
   * already removed it (dead-lettered, where it keeps dead letters), so settling it does
   * nothing. Handed on only so the worker marks the task REVOKED (expired) as Celery does.
   */
  readonly expired?: boolean;
  /** The task finished (in any final state): drop the message for good. */
  ack(): Promise<void>;
  /**
   * The message cannot be processed. `requeue: true` puts it back for another delivery;
   * `false` dead-letters it where the broker can, or drops it, with `reason` recorded.
   */
  reject(options: { requeue: boolean; reason?: string }): Promise<void>;
  /**
   * Hand the message back to be delivered again at `deliverAt` (unix ms), atomically: the
   * consumer's slot is freed and the message can never be lost or doubled in between.
   * Called only on brokers with `capabilities.delayedDelivery`.
   */
  defer(deliverAt: number): Promise<void>;
  /**
   * The task's own code has ended and only its settling is left, so the consumer may fetch
   * the next message now instead of after the settle's round trip. The delivery stays valid
   * and must still be settled. Also called for a delivery the worker holds unsettled while
   * flow control makes it wait, so the consumer fetches past it. Called before the settle;
   * a second call does nothing. A broker whose server counts unsettled messages itself
   * (AMQP's basic.qos) has nothing to do here.
   */
  release(): void;
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface ConsumeOptions {
  /** Queues to consume, in order of preference. */
  queues: string[];
  /** How many unsettled deliveries the consumer may hold at once. */
  prefetch: number;
  /** Called for each delivery; must not throw. */
  onDelivery: DeliveryHandler;
  /** Called when the broker hits an error it recovers from on its own (logged by the worker). */
  onError?: (error: Error) => void;
}

export interface Consumer {
  /** Stop receiving new deliveries; unsettled ones stay valid until settled or the broker closes. */
  cancel(): Promise<void>;
  /**
   * Changes how many unsettled deliveries the consumer may hold from now on (the worker's
   * pool grew or shrank, as Celery's `pool_grow` raises the prefetch). Deliveries held
   * beyond a lowered prefetch stay valid; no new ones come until the count is below it.
   * Optional: without it the worker replaces the consumer with one of the new prefetch.
   */
  setPrefetch?(prefetch: number): void;
}

/** An exchange as Celery declares it for remote control and events. */
export interface ExchangeSpec {
  /** `celery.pidbox` (fanout), `reply.celery.pidbox` (direct), `celeryev` (topic). */
  name: string;
  type: 'direct' | 'fanout' | 'topic';
  /** Survives a broker restart: Celery declares `celeryev` durable, the pidbox exchanges not. */
  durable: boolean;
}

/** A transient queue bound to an exchange: a worker's pidbox, a client's reply queue, an event receiver's queue. */
export interface BroadcastQueueSpec {
  /** `<hostname>.celery.pidbox`, `<oid>.reply.celery.pidbox`, `celeryev.<uuid>`. */
  name: string;
  exchange: ExchangeSpec;
  /** `''` on a fanout, the client's oid on the reply exchange, `#` or `worker.#` on `celeryev`. */
  bindingKey: string;
  /** Messages not read within this are dropped (`x-message-ttl`), where the broker can. */
  messageTtlMs?: number;
  /** The queue goes once unused this long (`x-expires`), where the broker can. */
  expiresMs?: number;
}

export interface BroadcastListener {
  /** Stops listening and removes the queue (it is transient). */
  close(): Promise<void>;
}

/**
 * Routing beyond task queues, for remote control (kombu's pidbox) and events: fanout and
 * topic exchanges, and direct replies to a client's own queue, laid out as kombu lays them
 * so Python Celery's tools and workers take part. Messages are transient and unacknowledged,
 * as Celery sends them: a message nobody listens for is dropped. Never on the task hot path.
 */
export interface Broadcasting {
  /** Sends a message to an exchange with a routing key; resolves once handed to the broker. */
  send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void>;
  /**
   * Declares the queue, binds it, and hands every message routed to it to `onMessage`
   * until closed (after a reconnection, again). Resolves once listening.
   */
  listen(
    queue: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError?: (error: Error) => void,
  ): Promise<BroadcastListener>;
}

/** A message the broker dead-lettered, as `listDeadLetters` gives it. */
export interface DeadLetterInfo {
  /** Opaque, stable while the letter stays: what `redriveDeadLetters` takes. */
  id: string;
  queue: string;
  reason: string;
  /** Unix ms. */
  deadAt: number;
  /** The message, when its envelope decodes. */
  message: TransportMessage | undefined;
}

/** A broker that cannot tell a queue's oldest message now, and why (Broker.oldestMessageAt). */
export interface OldestMessage {
  unknown: string;
}

export interface Broker {
  /** The URL scheme family, e.g. `sqlite`, `redis`, `amqp`. */
  readonly kind: string;
  readonly capabilities: BrokerCapabilities;
  /**
   * Fanout, topic and reply routing for remote control and events (every built-in broker
   * has it). Absent on a broker that has none: the worker then runs without remote control and events, and says so;
   * `celeriac inspect`, `control` and `events` refuse with a clear error.
   */
  readonly broadcasting?: Broadcasting | undefined;
  /** Opens connections and declares what the broker needs. Safe to call twice. */
  connect(): Promise<void>;
  /** Resolves once the broker holds the message durably; rejects with a clear error otherwise. */
  publish(message: TransportMessage, options: PublishOptions): Promise<void>;
  /** Many messages in as few round trips as the broker allows; all-or-nothing where it can. */
  publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumer>;
  /**
   * Deletes the ready messages of a queue, the ones `queueLength` counts, and returns how
   * many, as Celery's purge does. Messages delivered and not yet settled (unacked) stay,
   * and so do delayed ones not yet due (ETA, countdown, deferred).
   */
  purge(queue: string): Promise<number>;
  /** Messages waiting in a queue (ready to deliver, not counting deferred or in-flight ones). */
  queueLength(queue: string): Promise<number>;
  /**
   * When the oldest message waiting in the queue (of those `queueLength` counts) was
   * published, unix ms; `null` when none waits; `{ unknown: reason }` when the broker
   * cannot tell for the messages there now (Redis: the next message's delivery tag has no
   * time, as Python Celery's uuid4 tags). Absent where the broker can never tell without
   * taking the message (AMQP): the dashboard then says "unknown" and why.
   */
  oldestMessageAt?(queue: string): Promise<number | null | OldestMessage>;
  /**
   * The queue's dead letters (messages rejected without requeue), at most `limit`. Absent
   * where the broker keeps none (AMQP without its `deadLetter` option).
   */
  listDeadLetters?(queue: string, limit: number): Promise<DeadLetterInfo[]>;
  /**
   * Moves the dead letters with these ids back to their queue, each at most once (two
   * callers racing move it once); returns how many moved. With `listDeadLetters`.
   */
  redriveDeadLetters?(queue: string, ids: readonly string[]): Promise<number>;
  /** Closes connections. Unsettled deliveries go back to their queue (now or after a lease). */
  close(): Promise<void>;
}
