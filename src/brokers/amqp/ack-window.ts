/**
 * The acks of one consumer channel, gathered for an event-loop turn and written as few
 * frames as the delivery order allows: one `basic.ack` with `multiple` for every acked
 * delivery below the oldest one still unsettled, and one frame each for the acks past
 * it (a `multiple` ack there would also ack the unsettled one). RabbitMQ spends about
 * 40% less CPU per message on a multiple ack covering a turn's worth than on one ack each.
 *
 * An ack is only ever written later than asked, never earlier: the worker asks once the
 * result is stored, so a result still precedes its ack. `flush()` writes what is queued
 * at once; the consumer calls it before it closes the channel, so a queued ack is never
 * lost on shutdown. Must never cover a delivery with `multiple` that was not settled.
 */
import type * as Amqplib from 'amqplib';

export class AckWindow {
  /** Delivery tags handed out and not settled, in delivery order (tags only grow). */
  private readonly unsettled = new Set<number>();
  /** Acks asked for and not written yet, in the order asked. */
  private queued: Amqplib.Message[] = [];
  private scheduled = false;

  constructor(private readonly channel: Amqplib.Channel) {}

  /** A delivery arrived on the channel. */
  delivered(message: Amqplib.Message): void {
    this.unsettled.add(message.fields.deliveryTag);
  }

  /** Queues an ack of `message`; written by the next flush (this turn's end, or sooner). */
  ack(message: Amqplib.Message): void {
    this.unsettled.delete(message.fields.deliveryTag);
    this.queued.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flushQuietly();
      });
    }
  }

  /** The delivery was settled another way (reject, written at once): it no longer holds a multiple ack back. */
  settledElsewhere(message: Amqplib.Message): void {
    this.unsettled.delete(message.fields.deliveryTag);
  }

  /** Writes every queued ack now. Throws as amqplib does when the channel has closed. */
  flush(): void {
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    const oldest = this.unsettled.values().next();
    const bound = oldest.done ? Infinity : oldest.value;
    let highest: Amqplib.Message | undefined;
    let covered = 0;
    for (const message of queued) {
      const tag = message.fields.deliveryTag;
      if (tag < bound) {
        covered++;
        if (!highest || tag > highest.fields.deliveryTag) highest = message;
      } else {
        this.channel.ack(message);
      }
    }
    if (highest) this.channel.ack(highest, covered > 1);
  }

  /** A flush from the timer: a closed channel means RabbitMQ requeued what it held. */
  private flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // The channel closed since: those messages are redelivered, as with an ack lost in flight.
    }
  }
}
