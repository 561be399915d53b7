/**
 * The RabbitMQ broker: Celery's topology and message format over amqplib, with publisher
 * confirms, manual acks, prefetch, delayed delivery inside RabbitMQ, dead-lettering, and
 * reconnection. Wires the pieces of this folder together; holds no protocol logic.
 *
 * Must never decode a task body, and never decide retries or dead-letter policy: the
 * worker does, through the Delivery it is handed.
 */
import type {
  Broker,
  BrokerCapabilities,
  Consumer,
  ConsumeOptions,
  PublishOptions,
} from '../broker.js';
import type { JsonValue, TransportMessage } from '../../protocol/types.js';
import { AmqpConnection } from './connection.js';
import { AmqpConsumer } from './consumer.js';
import { delayedRoute, delaySecondsUntil } from './delayed-delivery.js';
import { toPublishOptions, type EncodeOptions } from './message-codec.js';
import { resolveAmqpOptions, type AmqpBrokerOptions, type ResolvedAmqpOptions } from './options.js';
import { ConfirmPublisher } from './publisher.js';
import { replyRoutes } from './reply-routes.js';
import { Topology } from './topology.js';

export class AmqpBroker implements Broker {
  readonly kind = 'amqp';
  readonly capabilities: BrokerCapabilities;
  readonly options: ResolvedAmqpOptions;
  private readonly connection: AmqpConnection;
  private readonly topology: Topology;
  private readonly publisher: ConfirmPublisher;
  private readonly consumers = new Set<AmqpConsumer>();
  private connecting: Promise<void> | undefined;

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
    this.capabilities = {
      delayedDelivery: this.options.delayedDelivery,
      priorities: this.options.maxPriority !== undefined,
      deadLetter: this.options.deadLetter,
    };
    this.connection = new AmqpConnection({ ...this.options });
    this.topology = new Topology(this.connection, this.options);
    this.publisher = new ConfirmPublisher(
      this.connection,
      this.options.publishTimeoutMs,
      'Publishing',
    );
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
    this.connecting ??= this.connection.start(this.options.connectTimeoutMs).then(() => {
      replyRoutes.noteBrokerUrl(this.url);
    });
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
    this.noteReplyRoute(message, 'published');
    const replyTo = message.properties.reply_to;
    if (this.options.declareReplyQueues && typeof replyTo === 'string' && replyTo !== '') {
      await this.topology.ensureReplyQueue(replyTo);
    }
    if (options.deliverAt !== undefined && this.options.delayedDelivery) {
      await this.publishDelayed(
        message,
        options.queue,
        options.deliverAt,
        { priority: options.priority },
        deadline,
      );
      return;
    }
    // Declared once per connection; the check spares the common case a wait.
    if (!this.topology.isQueueReady(options.queue)) await this.topology.ensureQueue(options.queue);
    await this.publisher.publish(
      {
        exchange: options.exchange ?? '',
        routingKey: this.topology.name(options.queue),
        content: message.body,
        options: toPublishOptions(message, { priority: options.priority }),
      },
      deadline,
    );
  }

  /**
   * Publishes every message, pipelined, each confirmed on its own. AMQP has no atomic batch
   * with confirms: on failure, the others may be stored; the first error is thrown.
   */
  async publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    const results = await Promise.allSettled(
      batch.map(({ message, options }) => this.publish(message, options)),
    );
    const failed = results.find(
      (result): result is PromiseRejectedResult => result.status === 'rejected',
    );
    if (failed) throw failed.reason;
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
        onMessage: (message) => this.noteReplyRoute(message, 'delivered'),
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
    for (const consumer of this.consumers) await consumer.cancel().catch(() => undefined);
    this.consumers.clear();
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
      await this.topology.ensureQueue(queue);
      const options = toPublishOptions(message, encode);
      await this.publisher.publish(
        { exchange: '', routingKey: this.topology.name(queue), content: message.body, options },
        deadline,
      );
      return;
    }
    await this.topology.ensureDelayed(queue);
    const route = delayedRoute(seconds, this.topology.name(queue));
    const options = toPublishOptions(message, { ...encode, delayed: true });
    await this.publisher.publish(
      { exchange: route.exchange, routingKey: route.routingKey, content: message.body, options },
      deadline,
    );
  }

  private async publishDeadLetter(
    message: TransportMessage,
    queue: string,
    reason: string,
  ): Promise<void> {
    await this.topology.ensureQueue(queue);
    const extraHeaders: Record<string, JsonValue> = {
      'x-celeriac-reason': reason,
      'x-celeriac-rejected-at': new Date().toISOString(),
    };
    await this.publisher.publish(
      {
        exchange: this.topology.deadLetterExchange(),
        routingKey: this.topology.name(queue),
        content: message.body,
        options: toPublishOptions(message, { republish: true, extraHeaders, delayed: true }),
      },
      Date.now() + this.options.publishTimeoutMs,
    );
  }

  /** Tells the rpc:// backend of this process where results of this task belong. */
  private noteReplyRoute(message: TransportMessage, side: 'published' | 'delivered'): void {
    const taskId = message.headers.id;
    const replyTo = message.properties.reply_to;
    if (typeof taskId !== 'string' || typeof replyTo !== 'string' || replyTo === '') return;
    const route = { replyTo, correlationId: message.properties.correlation_id ?? taskId };
    if (side === 'published') replyRoutes.notePublished(taskId, route);
    else replyRoutes.noteDelivered(taskId, route);
  }
}

/** The registry's factory for `amqp://` and `amqps://` URLs. */
export function createAmqpBroker(url: string, options: AmqpBrokerOptions = {}): AmqpBroker {
  return new AmqpBroker(url, options);
}
