/**
 * One message handed to a consumer and its three ways out: ack, reject (requeue or
 * dead-letter) and defer (publish again delayed, confirmed, then ack, in that order so
 * the message exists at every instant). Each delivery is settled once.
 *
 * Must never ack before the replacement of a deferred or dead-lettered message is
 * confirmed, and never settle on a channel other than the one it came on: a delivery tag
 * means nothing elsewhere, and RabbitMQ closes the channel for a wrong one.
 */
import type * as Amqplib from 'amqplib';
import type { Delivery } from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import { BrokerConnectionError, CeleriacError } from '../../errors.js';
import type { AckWindow } from './ack-window.js';

/** The channel a delivery came on, whether it is still open, and its acks not yet written. */
export interface DeliveryChannel {
  readonly channel: Amqplib.Channel;
  readonly acks: AckWindow;
  alive: boolean;
}

export interface DeliveryDeps {
  /** Publishes the message delayed until `deliverAt`, resolving once confirmed. */
  defer(message: TransportMessage, queue: string, deliverAt: number): Promise<void>;
  /** Publishes the message to the dead-letter queue with the reason; undefined when disabled. */
  deadLetter:
    ((message: TransportMessage, queue: string, reason: string) => Promise<void>) | undefined;
  /** Called once per delivery, whatever the outcome. */
  onSettled(): void;
  onError(error: Error): void;
}

export class AlreadySettledError extends CeleriacError {}

export class AmqpDelivery implements Delivery {
  private settled = false;

  constructor(
    readonly message: TransportMessage,
    readonly queue: string,
    readonly redelivered: boolean,
    private readonly raw: Amqplib.Message,
    private readonly via: DeliveryChannel,
    private readonly deps: DeliveryDeps,
  ) {}

  /** RabbitMQ counts unsettled deliveries against basic.qos itself: nothing to free early. */
  release(): void {}

  /** Queued on the channel's ack window, written at the end of this turn (or before the channel closes). */
  // eslint-disable-next-line @typescript-eslint/require-await -- async so that errors reject, not throw
  async ack(): Promise<void> {
    this.claim('ack');
    this.settle('ack', () => this.via.acks.ack(this.raw));
  }

  async reject(options: { requeue: boolean; reason?: string }): Promise<void> {
    this.claim('reject');
    if (!options.requeue && this.deps.deadLetter && this.via.alive) {
      try {
        await this.deps.deadLetter(this.message, this.queue, options.reason ?? 'rejected');
        this.settle('ack', () => this.via.acks.ack(this.raw));
        return;
      } catch (error) {
        // RabbitMQ's own dead-lettering (x-dead-letter-exchange) still keeps it, without the reason.
        this.deps.onError(
          new BrokerConnectionError(
            `Dead-lettering with a reason failed: ${(error as Error).message}`,
          ),
        );
      }
    }
    if (options.requeue && !this.via.alive) {
      this.deps.onSettled(); // The channel closed: RabbitMQ has already put it back.
      return;
    }
    this.settle('reject', (channel) => this.rejectNow(channel, options.requeue));
  }

  async defer(deliverAt: number): Promise<void> {
    this.claim('defer');
    try {
      await this.deps.defer(this.message, this.queue, deliverAt);
    } catch (error) {
      // Not stored delayed: give the message back rather than hold it or lose it.
      if (this.via.alive) this.settle('reject', (channel) => this.rejectNow(channel, true));
      else this.deps.onSettled();
      throw error;
    }
    this.settle('ack', () => this.via.acks.ack(this.raw));
  }

  private rejectNow(channel: Amqplib.Channel, requeue: boolean): void {
    channel.reject(this.raw, requeue);
    this.via.acks.settledElsewhere(this.raw);
  }

  private claim(action: string): void {
    if (this.settled) {
      throw new AlreadySettledError(
        `Cannot ${action} a delivery that was already settled (ack, reject or defer once).`,
      );
    }
    this.settled = true;
  }

  private settle(action: string, fn: (channel: Amqplib.Channel) => void): void {
    let done = false;
    if (this.via.alive) {
      try {
        fn(this.via.channel);
        done = true;
      } catch {
        // amqplib throws when the channel closed a moment ago: same as a dead channel.
      }
    }
    // After the frame is written: a cancelled consumer closes its channel on the last settle.
    this.deps.onSettled();
    if (done) return;
    throw new BrokerConnectionError(
      `Could not ${action} a message from ${this.queue}: the channel it came on closed (connection lost). ` +
        'RabbitMQ has put it back in the queue and will deliver it again.',
    );
  }
}
