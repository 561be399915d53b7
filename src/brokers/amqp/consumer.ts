/**
 * A consumer of one or more queues on its own channel, with manual acks and a prefetch
 * limit (basic.qos), that comes back by itself: after a lost connection it opens a new
 * channel, declares its queues again and resumes; after a lost channel alone (RabbitMQ
 * closed it, or the queue was deleted) likewise.
 *
 * Prefetch: consuming several classic queues, one channel-wide limit (qos global) bounds
 * what the consumer holds across them and changes at once. Otherwise (one queue, or quorum
 * queues, which refuse a global qos) each queue gets the limit as a set of consumers whose
 * per-consumer limits add up to it (a per-consumer limit is fixed when the consumer starts):
 * raising it adds a consumer for the difference, lowering it cancels consumers, and
 * nothing held is given back.
 *
 * Must never deliver on a cancelled consumer, and never settle a message on another
 * channel than the one it came on.
 */
import type * as Amqplib from 'amqplib';
import type { Consumer, ConsumeOptions } from '../broker.js';
import { BrokerConnectionError } from '../../errors.js';
import type { AmqpConnection } from '../../connections/amqp/connection.js';
import { AckWindow } from './ack-window.js';
import { AmqpDelivery, type DeliveryChannel, type DeliveryDeps } from './delivery.js';
import { fromAmqpMessage } from './message-codec.js';
import type { Topology } from './topology.js';

export interface ConsumerDeps {
  connection: AmqpConnection;
  topology: Topology;
  queueType: 'classic' | 'quorum';
  timeoutMs: number;
  /** How a delivery is deferred or dead-lettered (the broker's publisher). */
  settle: Omit<DeliveryDeps, 'onSettled' | 'onError'>;
}

interface Subscription {
  epoch: number;
  via: DeliveryChannel;
  /** basic.consume subscriptions on the channel, with the per-consumer limit each got. */
  parts: Array<{ queue: string; tag: string; prefetch: number }>;
  /** Deliveries of this channel not settled yet. */
  held: number;
  /** What each of its deliveries settles through: one object for all of them. */
  settle: DeliveryDeps;
}

/** Waits this long before re-subscribing after a lost channel, so a failing queue cannot spin. */
const RESUBSCRIBE_DELAY_MS = 500;

export class AmqpConsumer implements Consumer {
  private prefetch: number;
  private cancelled = false;
  private current: Subscription | undefined;
  private removeHook: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private subscribing: Promise<void> | undefined;
  private readonly onError: (error: Error) => void;

  constructor(
    private readonly deps: ConsumerDeps,
    private readonly options: ConsumeOptions,
  ) {
    this.prefetch = Math.max(1, options.prefetch);
    this.onError = options.onError ?? (() => undefined);
  }

  /** Subscribes; rejects if the first subscription fails. Later losses are recovered. */
  async start(): Promise<void> {
    await this.subscribe();
    this.removeHook = this.deps.connection.onSetup(async () => {
      // A new connection: the old channel is gone with its deliveries (RabbitMQ requeued them).
      this.current = undefined;
      await this.resubscribe();
    });
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, prefetch);
    const subscription = this.current;
    if (!subscription || !subscription.via.alive || this.cancelled) return;
    if (this.channelWide) {
      subscription.via.channel
        .prefetch(this.prefetch, true)
        .catch((error: Error) => this.onError(error));
    } else {
      void this.resizeLimit(subscription);
    }
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.removeHook?.();
    clearTimeout(this.retryTimer);
    await this.subscribing?.catch(() => undefined);
    const subscription = this.current;
    if (!subscription?.via.alive) return;
    for (const part of subscription.parts)
      await subscription.via.channel.cancel(part.tag).catch(() => undefined);
    this.flushAcks();
    // Held deliveries stay valid until settled; the channel closes after the last one.
    if (subscription.held === 0) await this.closeChannel(subscription);
  }

  /**
   * Writes the acks queued on the current channel now (they go out at the end of the turn
   * otherwise). The broker calls it before closing the connection, so none is lost.
   */
  flushAcks(): void {
    const via = this.current?.via;
    if (!via?.alive) return;
    try {
      via.acks.flush();
    } catch {
      // Closed a moment ago: RabbitMQ requeued those messages; they are redelivered.
    }
  }

  private async resubscribe(): Promise<void> {
    if (this.cancelled) return;
    try {
      await this.subscribe();
    } catch (error) {
      this.onError(
        new BrokerConnectionError(
          `Resuming the consumer of ${this.options.queues.join(', ')} failed: ${(error as Error).message}`,
          { cause: error },
        ),
      );
      this.scheduleResubscribe();
    }
  }

  private scheduleResubscribe(): void {
    if (this.cancelled || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.deps.connection.isReady && !this.current) void this.resubscribe();
    }, RESUBSCRIBE_DELAY_MS);
  }

  private subscribe(): Promise<void> {
    this.subscribing ??= this.openSubscription().finally(() => (this.subscribing = undefined));
    return this.subscribing;
  }

  private async openSubscription(): Promise<void> {
    const connection = await this.deps.connection.ready(this.deps.timeoutMs, 'Consuming');
    const epoch = this.deps.connection.epoch;
    for (const queue of this.options.queues) await this.deps.topology.ensureQueue(queue);
    const channel = await connection.createChannel();
    const via = { channel, acks: new AckWindow(channel), alive: true };
    const subscription: Subscription = {
      epoch,
      via,
      parts: [],
      held: 0,
      settle: {
        ...this.deps.settle,
        onSettled: () => this.onSettled(subscription),
        onError: this.onError,
      },
    };
    channel.on('error', (error: Error) =>
      this.onError(
        new BrokerConnectionError(`Consumer channel error: ${error.message}`, { cause: error }),
      ),
    );
    channel.on('close', () => this.onChannelClosed(subscription));
    try {
      const global = this.channelWide;
      if (global) await channel.prefetch(this.prefetch, true);
      for (const queue of this.options.queues) {
        await this.addPart(subscription, queue, global ? 0 : this.prefetch);
      }
    } catch (error) {
      await channel.close().catch(() => undefined);
      throw error;
    }
    if (this.cancelled) {
      await channel.close().catch(() => undefined);
      return;
    }
    this.current = subscription;
  }

  /** Starts one basic.consume on `queue`; `prefetch` 0 means the channel-wide limit applies. */
  private async addPart(
    subscription: Subscription,
    queue: string,
    prefetch: number,
  ): Promise<void> {
    const { channel } = subscription.via;
    // A per-consumer basic.qos applies to the consumers started after it.
    if (prefetch > 0) await channel.prefetch(prefetch, false);
    const reply = await channel.consume(
      this.deps.topology.name(queue),
      (raw) => this.onRaw(raw, queue, subscription),
      { noAck: false },
    );
    subscription.parts.push({ queue, tag: reply.consumerTag, prefetch });
  }

  /**
   * One limit over several classic queues needs RabbitMQ's channel-wide qos (slower on
   * RabbitMQ's side, and refused by quorum queues); one queue gets a per-consumer limit.
   */
  private get channelWide(): boolean {
    return this.deps.queueType === 'classic' && this.options.queues.length > 1;
  }

  /** Per-consumer limits: makes each queue's consumers' limits add up to the new prefetch. */
  private async resizeLimit(subscription: Subscription): Promise<void> {
    try {
      for (const queue of this.options.queues) {
        const target = this.prefetch;
        const parts = () => subscription.parts.filter((part) => part.queue === queue);
        const total = () => parts().reduce((sum, part) => sum + part.prefetch, 0);
        while (total() > target && parts().length > 0) {
          const last = parts().at(-1)!;
          await subscription.via.channel.cancel(last.tag);
          subscription.parts.splice(subscription.parts.indexOf(last), 1);
        }
        if (total() < target) await this.addPart(subscription, queue, target - total());
      }
    } catch (error) {
      this.onError(error as Error);
    }
  }

  private onRaw(
    raw: Amqplib.ConsumeMessage | null,
    queue: string,
    subscription: Subscription,
  ): void {
    const { via } = subscription;
    if (raw === null) {
      // RabbitMQ cancelled us (queue deleted): start over on a fresh channel.
      this.onError(
        new BrokerConnectionError(
          `RabbitMQ cancelled the consumer of ${queue} (queue deleted?); subscribing again.`,
        ),
      );
      void via.channel.close().catch(() => undefined);
      return;
    }
    if (this.cancelled) {
      // Arrived between cancel and cancel-ok: it goes back at once for another consumer.
      if (via.alive) via.channel.reject(raw, true);
      return;
    }
    const message = fromAmqpMessage(raw);
    subscription.held += 1;
    via.acks.delivered(raw);
    const delivery = new AmqpDelivery(
      message,
      queue,
      raw.fields.redelivered,
      raw,
      via,
      subscription.settle,
    );
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.onError(
        new BrokerConnectionError(`The delivery handler threw: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
  }

  private onSettled(subscription: Subscription): void {
    subscription.held = Math.max(0, subscription.held - 1);
    if (this.cancelled && subscription.held === 0 && this.current === subscription)
      void this.closeChannel(subscription);
  }

  private onChannelClosed(subscription: Subscription): void {
    subscription.via.alive = false; // RabbitMQ requeued what the channel held.
    if (this.current !== subscription) return;
    this.current = undefined;
    // A lost connection brings its own re-subscription (setup hook); a lost channel does not.
    const sameConnection =
      this.deps.connection.isReady && this.deps.connection.epoch === subscription.epoch;
    if (!this.cancelled && sameConnection) this.scheduleResubscribe();
  }

  private async closeChannel(subscription: Subscription): Promise<void> {
    if (subscription.via.alive) {
      try {
        subscription.via.acks.flush(); // Before the close: a queued ack is never lost.
      } catch {
        // Already closing: RabbitMQ requeues what it held.
      }
    }
    if (this.current === subscription) this.current = undefined;
    subscription.via.alive = false;
    await subscription.via.channel.close().catch(() => undefined);
  }
}
