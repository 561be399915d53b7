/**
 * Remote control and events on RabbitMQ with the exchanges and queues Celery declares:
 * `celery.pidbox` (fanout) and `reply.celery.pidbox` (direct), both non-durable, and the
 * durable topic exchange `celeryev`; listener queues non-durable and auto-deleted, with
 * `x-message-ttl` and `x-expires` as Celery sets them (RabbitMQ refuses a second
 * declaration that differs, so these must match Celery's exactly).
 *
 * Runs on channels of its own, unconfirmed and unacknowledged as kombu's pidbox is: never
 * on the task publisher's confirm channel, so it cannot slow the task hot path.
 */
import type * as Amqplib from 'amqplib';
import type {
  BroadcastListener,
  BroadcastQueueSpec,
  Broadcasting,
  ExchangeSpec,
} from '../broker.js';
import type { AmqpConnection } from '../../connections/amqp/connection.js';
import { toFieldTable } from '../../connections/amqp/field-table.js';
import type { JsonValue, TransportMessage } from '../../protocol/types.js';
import { fromAmqpMessage, toPublishOptions } from './message-codec.js';

const RETRY_DELAY_MS = 500;

export class AmqpBroadcasting implements Broadcasting {
  private sender: { channel: Amqplib.Channel; epoch: number; declared: Set<string> } | undefined;
  private opening: Promise<NonNullable<AmqpBroadcasting['sender']>> | undefined;
  private readonly listeners = new Set<AmqpListener>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly connect: () => Promise<void>,
    private readonly timeoutMs: number,
  ) {}

  async send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void> {
    const sender = await this.senderChannel();
    if (!sender.declared.has(exchange.name)) {
      await declareExchange(sender.channel, exchange);
      sender.declared.add(exchange.name);
    }
    sender.channel.publish(exchange.name, routingKey, message.body, toPublishOptions(message));
  }

  async listen(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError: (error: Error) => void = () => undefined,
  ): Promise<BroadcastListener> {
    await this.connect();
    const listener = new AmqpListener(this.connection, this.timeoutMs, spec, onMessage, onError);
    await listener.start();
    this.listeners.add(listener);
    listener.onClosed = () => this.listeners.delete(listener);
    return listener;
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((listener) => listener.close()));
    const sender = this.sender;
    this.sender = undefined;
    await sender?.channel.close().catch(() => undefined);
  }

  private async senderChannel(): Promise<NonNullable<AmqpBroadcasting['sender']>> {
    const current = this.sender;
    if (current && current.epoch === this.connection.epoch) return current;
    this.opening ??= (async () => {
      await this.connect();
      const model = await this.connection.ready(this.timeoutMs, 'Broadcasting');
      const channel = await model.createChannel();
      const sender = { channel, epoch: this.connection.epoch, declared: new Set<string>() };
      // A refused declaration closes the channel: the next send opens another.
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.sender === sender) this.sender = undefined;
      });
      this.sender = sender;
      return sender;
    })().finally(() => (this.opening = undefined));
    return this.opening;
  }
}

function declareExchange(channel: Amqplib.Channel, exchange: ExchangeSpec): Promise<unknown> {
  return channel.assertExchange(exchange.name, exchange.type, {
    durable: exchange.durable,
    autoDelete: false,
  });
}

/** One listener queue on its own channel, declared again after a reconnection. */
class AmqpListener implements BroadcastListener {
  onClosed: () => void = () => undefined;
  private channel: Amqplib.Channel | undefined;
  private closed = false;
  private removeHook: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly timeoutMs: number,
    private readonly spec: BroadcastQueueSpec,
    private readonly onMessage: (message: TransportMessage) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  async start(): Promise<void> {
    await this.subscribe();
    this.removeHook = this.connection.onSetup(async () => {
      this.channel = undefined;
      await this.subscribe().catch((error: Error) => this.retryLater(error));
    });
  }

  private async subscribe(): Promise<void> {
    if (this.closed) return;
    const model = await this.connection.ready(this.timeoutMs, 'Listening');
    const channel = await model.createChannel();
    channel.on('error', (error: Error) => this.onError(error));
    channel.on('close', () => {
      if (this.channel !== channel || this.closed) return;
      this.channel = undefined;
      if (this.connection.isReady) this.retryLater(new Error('listener channel closed'));
    });
    const { spec } = this;
    await declareExchange(channel, spec.exchange);
    const args: Record<string, JsonValue> = {};
    if (spec.expiresMs !== undefined) args['x-expires'] = spec.expiresMs;
    if (spec.messageTtlMs !== undefined) args['x-message-ttl'] = spec.messageTtlMs;
    await channel.assertQueue(spec.name, {
      durable: false,
      exclusive: false,
      autoDelete: true,
      arguments: toFieldTable(args),
    });
    await channel.bindQueue(spec.name, spec.exchange.name, spec.bindingKey);
    await channel.consume(
      spec.name,
      (raw) => {
        if (!raw) return;
        try {
          this.onMessage(fromAmqpMessage(raw));
        } catch (error) {
          this.onError(error as Error);
        }
      },
      { noAck: true },
    );
    this.channel = channel;
  }

  private retryLater(error: Error): void {
    if (this.closed || this.retryTimer) return;
    this.onError(error);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.channel && this.connection.isReady)
        void this.subscribe().catch((again: Error) => this.retryLater(again));
    }, RETRY_DELAY_MS);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeHook?.();
    clearTimeout(this.retryTimer);
    const channel = this.channel;
    this.channel = undefined;
    // Closing the only consumer's channel deletes the auto-delete queue.
    await channel?.close().catch(() => undefined);
    this.onClosed();
  }
}
