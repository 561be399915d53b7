/**
 * The RabbitMQ broker: Celery's topology and message format over amqplib, with publisher
 * confirms, manual acks, prefetch, delayed delivery inside RabbitMQ, dead-lettering, and
 * reconnection. Wires the pieces of this folder together; holds no protocol logic.
 *
 * Must never decode a task body, and never decide retries or dead-letter policy: the
 * worker does, through the Delivery it is handed.
 */
import type {
  Broadcasting,
  Broker,
  BrokerCapabilities,
  Consumer,
  ConsumeOptions,
  DeadLetterInfo,
  PublishOptions,
} from '../broker.js';
import type { JsonValue, TransportMessage } from '../../protocol/types.js';
import { AmqpConnection } from '../../connections/amqp/connection.js';
import { AmqpBroadcasting } from './broadcasting.js';
import { AmqpConsumer } from './consumer.js';
import { AmqpDeadLetters } from './dead-letters.js';
import { delayedRoute, delaySecondsUntil } from './delayed-delivery.js';
import { toPublishOptions, type EncodeOptions } from './message-codec.js';
import { resolveAmqpOptions, type AmqpBrokerOptions, type ResolvedAmqpOptions } from './options.js';
import {
  ConfirmPublisher,
  UnroutableError,
  type Publication,
} from '../../connections/amqp/publisher.js';
import { ReplyRoutes } from '../../connections/amqp/reply-routes.js';
import { Topology } from './topology.js';

export class AmqpBroker implements Broker {
  readonly kind = 'amqp';
  readonly capabilities: BrokerCapabilities;
  readonly options: ResolvedAmqpOptions;
  /** What the app's rpc:// backend learns from this broker (`attachBroker`): its URL, the reply queues of what it sent. */
  readonly replyRoutes: ReplyRoutes;
  /** Remote control and events: Celery's pidbox exchanges and `celeryev`, on channels of their own. */
  readonly broadcasting: Broadcasting;
  private readonly fanout: AmqpBroadcasting;
  private readonly connection: AmqpConnection;
  private readonly topology: Topology;
  private readonly publisher: ConfirmPublisher;
  private readonly consumers = new Set<AmqpConsumer>();
  private connecting: Promise<void> | undefined;
  /**
   * The dead letters in `<queue>.dead-letter`, oldest first; present with `deadLetter` only
   * (without it RabbitMQ drops rejected messages). Listing takes each letter and gives it
   * back (AMQP cannot peek), so a listed letter is marked redelivered.
   */
  readonly listDeadLetters?: (queue: string, limit: number) => Promise<DeadLetterInfo[]>;
  /** Moves those letters back to `queue`, each at most once; with `deadLetter` only. */
  readonly redriveDeadLetters?: (queue: string, ids: readonly string[]) => Promise<number>;

  /**
   * @example
   *   const broker = new AmqpBroker('amqp://guest:guest@localhost:5672//', { maxPriority: 10 });
   *   await broker.connect();
   */
  constructor(
    private readonly url: string,
    options: AmqpBrokerOptions = {},
  ) {
    this.options = resolveAmqpOptions(url, options);
    this.replyRoutes = new ReplyRoutes(url);
    this.capabilities = {
      delayedDelivery: this.options.delayedDelivery,
      deadLetter: this.options.deadLetter,
    };
    this.connection = new AmqpConnection({ ...this.options });
    this.topology = new Topology(this.connection, this.options);
    this.publisher = new ConfirmPublisher(
      this.connection,
      this.options.publishTimeoutMs,
      'Publishing',
    );
    this.broadcasting = this.fanout = new AmqpBroadcasting(
      this.connection,
      () => this.connect(),
      this.options.connectTimeoutMs,
    );
    if (this.options.deadLetter) {
      const letters = new AmqpDeadLetters({
        connection: this.connection,
        topology: this.topology,
        timeoutMs: this.options.connectTimeoutMs,
        publish: (message, queue) => this.publish(message, { queue }),
      });
      this.listDeadLetters = async (queue, limit) => {
        await this.connect();
        return letters.list(queue, limit);
      };
      this.redriveDeadLetters = async (queue, ids) => {
        await this.connect();
        return letters.redrive(queue, ids);
      };
    }
  }

  /** The RabbitMQ name of a logical queue (key prefix applied). */
  queueName(queue: string): string {
    return this.topology.name(queue);
  }

  /** The queue where `queue`'s rejected messages go when `deadLetter` is on. */
  deadLetterQueueName(queue: string): string {
    return this.topology.deadLetterQueue(queue);
  }

  async connect(): Promise<void> {
    this.connecting ??= this.connection.start(this.options.connectTimeoutMs).then(() => undefined);
    try {
      await this.connecting;
    } catch (error) {
      this.connecting = undefined;
      throw error;
    }
  }

  async publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    const deadline = Date.now() + this.options.publishTimeoutMs;
    if (!this.connection.isReady) await this.connect();
    this.noteReplyRoute(message);
    const replyTo = message.properties.reply_to;
    const declareReply =
      this.options.declareReplyQueues && typeof replyTo === 'string' && replyTo !== '';
    if (options.deliverAt !== undefined && this.options.delayedDelivery) {
      if (declareReply) await this.topology.ensureReplyQueue(replyTo);
      const encode = { priority: options.priority };
      await this.publishDelayed(message, options.queue, options.deliverAt, encode, deadline);
      return;
    }
    const queue = options.queue;
    await this.sendConfirmed(
      {
        exchange: '',
        routingKey: this.topology.name(queue),
        content: message.body,
        options: toPublishOptions(message, { priority: options.priority }),
      },
      queue,
      // Declared once per connection (after a reconnection, again); the checks spare the
      // common case a wait.
      () => {
        if (declareReply && !this.topology.isReplyQueueReady(replyTo)) {
          return this.topology
            .ensureReplyQueue(replyTo)
            .then(() => this.topology.ensureQueue(queue));
        }
        return this.topology.isQueueReady(queue) ? undefined : this.topology.ensureQueue(queue);
      },
      deadline,
    );
  }

  /**
   * Publishes every message, pipelined, each confirmed on its own. AMQP has no atomic batch
   * with confirms: on failure, the others may be stored; the first error is thrown. Those
   * due now go out as one batch on the confirm channel (one promise and one deadline for
   * the lot, the queues they need declared once); delayed ones one by one.
   */
  async publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    const deadline = Date.now() + this.options.publishTimeoutMs;
    if (!this.connection.isReady) await this.connect();
    const delayed: Array<Promise<void>> = [];
    const now: Array<Omit<Publication, 'prepare'>> = [];
    const queues: string[] = [];
    const queueSet = new Set<string>();
    const replies = new Set<string>();
    for (const { message, options } of batch) {
      if (options.deliverAt !== undefined && this.options.delayedDelivery) {
        delayed.push(this.publish(message, options));
        continue;
      }
      this.noteReplyRoute(message);
      const replyTo = message.properties.reply_to;
      if (this.options.declareReplyQueues && typeof replyTo === 'string' && replyTo !== '')
        replies.add(replyTo);
      if (!queueSet.has(options.queue)) queueSet.add(options.queue);
      queues.push(options.queue);
      now.push({
        exchange: '',
        routingKey: this.topology.name(options.queue),
        content: message.body,
        options: toPublishOptions(message, { priority: options.priority }),
      });
    }
    const settled = Promise.allSettled(delayed);
    const failures: unknown[] = [];
    if (now.length > 0) {
      const declare = (): Promise<void> | undefined => {
        const missing = [...replies].filter((reply) => !this.topology.isReplyQueueReady(reply));
        const queuesMissing = [...queueSet].filter((queue) => !this.topology.isQueueReady(queue));
        if (missing.length === 0 && queuesMissing.length === 0) return undefined;
        return (async () => {
          for (const reply of missing) await this.topology.ensureReplyQueue(reply);
          for (const queue of queuesMissing) await this.topology.ensureQueue(queue);
        })();
      };
      let outcome = await this.publisher.publishBatch(now, declare, deadline);
      // Returned as unroutable (its queue deleted since we declared it): declared again, sent once more.
      const returned = outcome.flatMap((error, i) => (error instanceof UnroutableError ? [i] : []));
      if (returned.length > 0) {
        for (const i of returned) this.topology.forget(queues[i]!);
        const retried = await this.publisher.publishBatch(
          returned.map((i) => now[i]!),
          declare,
          deadline,
        );
        outcome = [...outcome];
        returned.forEach((i, k) => (outcome[i] = retried[k]));
      }
      for (const error of outcome) if (error) failures.push(error);
    }
    for (const result of await settled)
      if (result.status === 'rejected') failures.push(result.reason);
    if (failures.length > 0) throw failures[0];
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    await this.connect();
    const consumer: AmqpConsumer = new AmqpConsumer(
      {
        connection: this.connection,
        topology: this.topology,
        queueType: this.options.queueType,
        timeoutMs: this.options.connectTimeoutMs,
        settle: {
          defer: (message, queue, deliverAt) =>
            this.publishDelayed(
              message,
              queue,
              deliverAt,
              { republish: true },
              Date.now() + this.options.publishTimeoutMs,
            ),
          deadLetter: this.options.deadLetter
            ? (message, queue, reason) => this.publishDeadLetter(message, queue, reason)
            : undefined,
        },
      },
      options,
    );
    await consumer.start();
    this.consumers.add(consumer);
    return consumer;
  }

  /** Deletes the ready messages of a queue. Unacked ones stay with their consumer, as in Celery. */
  async purge(queue: string): Promise<number> {
    await this.connect();
    return this.topology.purge(queue);
  }

  /** Ready messages: not those held by consumers, nor those waiting in the delay levels. */
  async queueLength(queue: string): Promise<number> {
    await this.connect();
    return this.topology.messageCount(queue);
  }

  /** Closes the connection: RabbitMQ puts every unacked delivery back in its queue. */
  async close(): Promise<void> {
    for (const consumer of this.consumers) {
      await consumer.cancel().catch(() => undefined);
      consumer.flushAcks(); // Acks queued since a cancel go out before the connection closes.
    }
    this.consumers.clear();
    await this.fanout.close();
    await this.publisher.close();
    await this.connection.close();
  }

  private async publishDelayed(
    message: TransportMessage,
    queue: string,
    deliverAt: number,
    encode: EncodeOptions,
    deadline: number,
  ): Promise<void> {
    const seconds = delaySecondsUntil(deliverAt, Date.now());
    if (seconds === 0 || !this.options.delayedDelivery) {
      const publication = {
        exchange: '',
        routingKey: this.topology.name(queue),
        content: message.body,
        options: toPublishOptions(message, encode),
      };
      await this.sendConfirmed(
        publication,
        queue,
        () => this.topology.ensureQueue(queue),
        deadline,
      );
      return;
    }
    const route = delayedRoute(seconds, this.topology.name(queue));
    const publication = {
      exchange: route.exchange,
      routingKey: route.routingKey,
      content: message.body,
      options: toPublishOptions(message, { ...encode, delayed: true }),
    };
    await this.sendConfirmed(
      publication,
      queue,
      () => this.topology.ensureDelayed(queue),
      deadline,
    );
  }

  private async publishDeadLetter(
    message: TransportMessage,
    queue: string,
    reason: string,
  ): Promise<void> {
    const extraHeaders: Record<string, JsonValue> = {
      'x-celeriac-reason': reason,
      'x-celeriac-rejected-at': new Date().toISOString(),
    };
    const publication = {
      exchange: this.topology.deadLetterExchange(),
      routingKey: this.topology.name(queue),
      content: message.body,
      options: toPublishOptions(message, { republish: true, extraHeaders, delayed: true }),
    };
    const deadline = Date.now() + this.options.publishTimeoutMs;
    await this.sendConfirmed(publication, queue, () => this.topology.ensureQueue(queue), deadline);
  }

  /**
   * Publishes, confirmed, with `declare` run on the connection it goes out on. A message
   * RabbitMQ returns as unroutable (its queue deleted since we declared it) is declared
   * again and sent once more, so such a deletion costs a round trip, not the message.
   */
  private async sendConfirmed(
    publication: Omit<Publication, 'prepare'>,
    queue: string,
    declare: () => Promise<void> | undefined,
    deadline: number,
  ): Promise<void> {
    try {
      await this.publisher.publish({ ...publication, prepare: declare }, deadline);
    } catch (error) {
      if (!(error instanceof UnroutableError)) throw error;
      this.topology.forget(queue);
      await this.publisher.publish({ ...publication, prepare: declare }, deadline);
    }
  }

  /** Tells the app's rpc:// backend where the results of this task come back. */
  private noteReplyRoute(message: TransportMessage): void {
    const taskId = message.headers.id;
    const replyTo = message.properties.reply_to;
    if (typeof taskId !== 'string' || typeof replyTo !== 'string' || replyTo === '') return;
    const route = { replyTo, correlationId: message.properties.correlation_id ?? taskId };
    this.replyRoutes.notePublished(taskId, route);
  }
}

/** The registry's factory for `amqp://` and `amqps://` URLs. */
export function createAmqpBroker(url: string, options: AmqpBrokerOptions = {}): AmqpBroker {
  return new AmqpBroker(url, options);
}
