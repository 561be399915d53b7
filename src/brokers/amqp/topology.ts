/**
 * Declares what RabbitMQ must hold before a message is published or consumed, exactly as
 * Celery declares it: per queue `q`, a durable exchange `q` (direct unless configured),
 * a durable queue `q` and the binding `q`; the delayed-delivery levels; the dead-letter
 * exchange and queues when enabled. Each declaration is made once per connection and made
 * again after a reconnection (the broker may have restarted without them).
 *
 * Must never declare a work queue with arguments Celery would not use for the same
 * configuration: RabbitMQ refuses a second declaration with different arguments, so Python
 * clients would fail to send.
 */
import type * as Amqplib from 'amqplib';
import { CeleriacError } from '../../errors.js';
import type { AmqpConnection } from '../../connections/amqp/connection.js';
import {
  deliveryBindingPattern,
  DELIVERY_EXCHANGE,
  levelDeclarations,
} from './delayed-delivery.js';
import { typedNumber, type FieldTable } from '../../connections/amqp/field-table.js';
import type { ResolvedAmqpOptions } from './options.js';
import { replyQueueOptions } from '../../connections/amqp/reply-queue.js';

export const DEAD_LETTER_EXCHANGE = 'celeriac.dead-letter';

export class QueueDeclarationError extends CeleriacError {}

type TopologyOptions = Pick<
  ResolvedAmqpOptions,
  | 'keyPrefix'
  | 'queueType'
  | 'exchangeType'
  | 'maxPriority'
  | 'deadLetter'
  | 'delayedQueueType'
  | 'publishTimeoutMs'
>;

export class Topology {
  private channel: { epoch: number; promise: Promise<Amqplib.Channel> } | undefined;
  private declared = new Map<string, Promise<void>>();
  private done = new Set<string>();
  private declaredEpoch = -1;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: TopologyOptions,
  ) {}

  /** The RabbitMQ name of a logical queue (the key prefix applied). */
  name(queue: string): string {
    return `${this.options.keyPrefix}${queue}`;
  }

  deadLetterExchange(): string {
    return `${this.options.keyPrefix}${DEAD_LETTER_EXCHANGE}`;
  }

  deadLetterQueue(queue: string): string {
    return `${this.name(queue)}.dead-letter`;
  }

  /** Arguments of a work queue, as Celery would declare it with the same settings. */
  queueArguments(queue: string): FieldTable {
    const args: FieldTable = {};
    if (this.options.queueType === 'quorum') args['x-queue-type'] = 'quorum';
    if (this.options.maxPriority !== undefined)
      args['x-max-priority'] = typedNumber(this.options.maxPriority);
    if (this.options.deadLetter) {
      args['x-dead-letter-exchange'] = this.deadLetterExchange();
      // Messages that came through the delay levels carry a long routing key: normalise it.
      args['x-dead-letter-routing-key'] = this.name(queue);
    }
    return args;
  }

  /** Declares queue `q` with its exchange and binding (and dead-letter queue), once per connection. */
  ensureQueue(queue: string): Promise<void> {
    return this.once(`queue:${queue}`, async (channel) => {
      const name = this.name(queue);
      await channel.assertExchange(name, this.options.exchangeType, {
        durable: true,
        autoDelete: false,
      });
      await this.declareQueue(channel, queue);
      await channel.bindQueue(name, name, name);
      if (this.options.deadLetter) {
        await channel.assertExchange(this.deadLetterExchange(), 'direct', {
          durable: true,
          autoDelete: false,
        });
        await channel.assertQueue(this.deadLetterQueue(queue), {
          durable: true,
          autoDelete: false,
          arguments: {},
        });
        await channel.bindQueue(this.deadLetterQueue(queue), this.deadLetterExchange(), name);
      }
    });
  }

  /** The delay levels and the binding that brings due messages into `queue`. */
  ensureDelayed(queue: string): Promise<void> {
    const levels = this.once('delayed-levels', async (channel) => {
      const declarations = levelDeclarations(this.options.delayedQueueType);
      for (const level of declarations) {
        await channel.assertExchange(level.exchange, 'topic', { durable: true, autoDelete: false });
        await channel.assertQueue(level.queue, {
          durable: true,
          autoDelete: false,
          arguments: level.arguments,
        });
        await channel.bindQueue(level.queue, level.exchange, level.queuePattern);
      }
      await channel.assertExchange(DELIVERY_EXCHANGE, 'topic', {
        durable: true,
        autoDelete: false,
      });
      for (const level of declarations) {
        await channel.bindExchange(level.next.exchange, level.exchange, level.next.pattern);
      }
    });
    return this.once(`delayed:${queue}`, async (channel) => {
      await levels;
      await this.ensureQueue(queue);
      await channel.bindQueue(
        this.name(queue),
        DELIVERY_EXCHANGE,
        deliveryBindingPattern(this.name(queue)),
      );
    });
  }

  /**
   * The caller's reply queue named in a task message, declared before the task is sent, as
   * Celery's rpc:// client does: a worker's result for a queue that does not exist yet
   * would be dropped. Not prefixed: the name is the caller's, and the worker uses it as is.
   */
  ensureReplyQueue(replyTo: string): Promise<void> {
    return this.once(`reply:${replyTo}`, async (channel) => {
      await channel.assertQueue(replyTo, replyQueueOptions());
    });
  }

  /** Ready messages in `queue` (declaring it if needed, as kombu does). */
  async messageCount(queue: string): Promise<number> {
    await this.ensureQueue(queue);
    return this.withChannel(
      async (channel) => (await this.declareQueue(channel, queue)).messageCount,
    );
  }

  /**
   * queue.purge: the server drops the queue's ready messages only; unacked ones stay with
   * their consumer, and delayed ones wait in the celery_delayed_* queues, untouched.
   */
  async purge(queue: string): Promise<number> {
    await this.ensureQueue(queue);
    return this.withChannel(
      async (channel) => (await channel.purgeQueue(this.name(queue))).messageCount,
    );
  }

  /** Runs `fn` on the declaration channel of the current connection. */
  async withChannel<T>(fn: (channel: Amqplib.Channel) => Promise<T>): Promise<T> {
    const channel = await this.openChannel();
    try {
      return await fn(channel);
    } catch (error) {
      throw this.explain(error as Error & { code?: number });
    }
  }

  private declareQueue(
    channel: Amqplib.Channel,
    queue: string,
  ): Promise<Amqplib.Replies.AssertQueue> {
    return channel.assertQueue(this.name(queue), {
      durable: true,
      exclusive: false,
      autoDelete: false,
      arguments: this.queueArguments(queue),
    });
  }

  /** Forgets what was declared for `queue` (it was deleted behind our back): declare anew. */
  forget(queue: string): void {
    for (const key of [`queue:${queue}`, `delayed:${queue}`, 'delayed-levels']) {
      this.declared.delete(key);
      this.done.delete(key);
    }
  }

  isReplyQueueReady(replyTo: string): boolean {
    return this.declaredEpoch === this.connection.epoch && this.done.has(`reply:${replyTo}`);
  }

  /** Whether `queue` is declared on the current connection: lets a publish skip a wait. */
  isQueueReady(queue: string): boolean {
    return this.declaredEpoch === this.connection.epoch && this.done.has(`queue:${queue}`);
  }

  private once(key: string, declare: (channel: Amqplib.Channel) => Promise<void>): Promise<void> {
    if (this.declaredEpoch !== this.connection.epoch) {
      this.declared = new Map();
      this.done = new Set();
      this.declaredEpoch = this.connection.epoch;
    }
    let pending = this.declared.get(key);
    if (!pending) {
      const { declared, done } = this;
      pending = this.withChannel(declare).then(
        () => void done.add(key),
        (error: unknown) => {
          declared.delete(key); // Try again next time rather than remember a failure.
          throw error;
        },
      );
      declared.set(key, pending);
    }
    return pending;
  }

  private async openChannel(): Promise<Amqplib.Channel> {
    const connection = await this.connection.ready(
      this.options.publishTimeoutMs,
      'Declaring queues',
    );
    const epoch = this.connection.epoch;
    if (this.channel && this.channel.epoch === epoch) return this.channel.promise;
    const promise = connection.createChannel().then((channel) => {
      channel.on('error', () => undefined); // Reported to the failing call; 'close' follows.
      channel.on('close', () => {
        if (this.channel?.promise === promise) this.channel = undefined;
      });
      return channel;
    });
    this.channel = { epoch, promise };
    promise.catch(() => {
      if (this.channel?.promise === promise) this.channel = undefined;
    });
    return promise;
  }

  private explain(error: Error & { code?: number }): Error {
    if (error.code === 406) {
      return new QueueDeclarationError(
        `RabbitMQ refused a declaration: ${error.message}. A queue or exchange of that name exists with other ` +
          'settings (queue type, x-max-priority, dead-lettering, exchange type). Use the same settings as whoever ' +
          'declared it first (Celery: task_queues / queue_arguments), or delete it.',
        { cause: error },
      );
    }
    return error;
  }
}
