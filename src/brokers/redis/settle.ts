/**
 * Builds the `Delivery` objects consumers hand out and carries out the settlements other
 * than a plain ack: reject with requeue (back of the queue, as kombu's reject does), reject
 * without (dead-letter list, with the reason), defer (delayed set), and giving back what a
 * closing broker still holds (front of the queue, as kombu's restore does).
 * Must never settle a delivery twice, nor move one Redis no longer lists as ours.
 */
import type { Delivery } from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { HeldDelivery, RedisBrokerCore } from './core.js';
import { deadLetterScript, deferScript, requeueScript } from './scripts/settle.js';
import { delayedMember, encodeDeadLetter, markRedelivered } from './wire.js';

/** The part of a consumer a delivery talks to when it is settled. */
export interface SlotOwner {
  queueAck(tag: string): Promise<void>;
  released(): void;
  reportError(error: Error): void;
}

export class DeliverySettler {
  constructor(
    private readonly core: RedisBrokerCore,
    /** Told of each deferral so the promoter can wake in time for it. */
    private readonly onDeferred: (dueMs: number) => void,
  ) {}

  delivery(owner: SlotOwner, held: HeldDelivery, message: TransportMessage, redelivered: boolean): Delivery {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      return true;
    };
    return {
      message,
      queue: held.queue,
      redelivered,
      ack: async () => {
        if (!settle()) return;
        await owner.queueAck(held.tag);
      },
      reject: async ({ requeue, reason }) => {
        if (!settle()) return;
        const done = requeue ? this.requeue(held, 'back') : this.deadLetter(held, reason ?? 'rejected');
        owner.released();
        this.warnIfLost(owner, held, await done);
      },
      defer: async (deliverAt) => {
        if (!settle()) return;
        const done = this.defer(held, deliverAt);
        owner.released();
        this.warnIfLost(owner, held, await done);
      },
    };
  }

  /**
   * Puts a held delivery back in its list, marked redelivered: at the back for a reject
   * (a poison message does not starve the queue), at the front when a closing consumer
   * gives back what it had not started.
   */
  async requeue(held: HeldDelivery, end: 'front' | 'back'): Promise<boolean> {
    let envelope = held.envelope;
    try {
      envelope = markRedelivered(held.envelope, held.tag);
    } catch {
      // Unreadable envelopes are never handed out; if one gets here, move it unchanged.
    }
    const moved = await this.core.run(requeueScript, [...this.core.unackedKeys, held.listKey], [
      held.tag,
      envelope,
      end === 'back' ? '1' : '0',
    ]);
    this.core.held.delete(held.tag);
    return moved === 1;
  }

  async deadLetter(held: HeldDelivery, reason: string): Promise<boolean> {
    const entry = encodeDeadLetter({ queue: held.queue, reason, at: Date.now(), envelope: held.envelope });
    const moved = await this.core.run(deadLetterScript, [...this.core.unackedKeys, this.core.keys.deadLetter(held.queue)], [
      held.tag,
      entry,
    ]);
    this.core.held.delete(held.tag);
    return moved === 1;
  }

  async defer(held: HeldDelivery, deliverAt: number): Promise<boolean> {
    const member = delayedMember(this.core.keys.bareList(held.queue, held.step), held.envelope);
    const due = Math.max(0, Math.round(deliverAt));
    const moved = await this.core.run(deferScript, [...this.core.unackedKeys, this.core.keys.delayed], [held.tag, due, member]);
    this.core.held.delete(held.tag);
    this.onDeferred(due);
    return moved === 1;
  }

  private warnIfLost(owner: SlotOwner, held: HeldDelivery, moved: boolean): void {
    if (moved) return;
    owner.reportError(
      new Error(
        `Delivery ${held.tag} from ${held.queue} was no longer held when settled (its lease lapsed and ` +
          'another consumer restored it); the settlement was skipped so the message is not doubled.',
      ),
    );
  }
}
