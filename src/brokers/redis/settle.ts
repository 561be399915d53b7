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
  /** One of the consumer's prefetch slots is free again. */
  freeSlot(): void;
  /** Writes the ack with this turn's others; resolves once Redis has it. */
  queueAck(tag: string): Promise<void>;
  reportError(error: Error): void;
}

/**
 * One delivery as a consumer hands it out. A class rather than closures: a worker makes
 * tens of thousands a second, and each must cost as little as possible.
 */
class RedisDelivery implements Delivery {
  private settled = false;
  private slotFreed = false;

  constructor(
    private readonly settler: DeliverySettler,
    private readonly owner: SlotOwner,
    private readonly held: HeldDelivery,
    readonly message: TransportMessage,
    readonly redelivered: boolean,
  ) {}

  get queue(): string {
    return this.held.queue;
  }

  release(): void {
    if (this.slotFreed) return;
    this.slotFreed = true;
    this.owner.freeSlot();
  }

  /** Not async: one promise per ack, the one that resolves when Redis has it. */
  ack(): Promise<void> {
    if (!this.settle()) return Promise.resolve();
    return this.owner.queueAck(this.held.tag);
  }

  async reject({ requeue, reason }: { requeue: boolean; reason?: string }): Promise<void> {
    if (!this.settle()) return;
    const { settler, held } = this;
    const moved = await (requeue
      ? settler.requeue(held, 'back')
      : settler.deadLetter(held, reason ?? 'rejected'));
    settler.warnIfLost(this.owner, held, moved);
  }

  async defer(deliverAt: number): Promise<void> {
    if (!this.settle()) return;
    this.settler.warnIfLost(this.owner, this.held, await this.settler.defer(this.held, deliverAt));
  }

  /** True the first time only; frees the slot if the task's end did not already. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.release();
    return true;
  }
}

export class DeliverySettler {
  constructor(
    private readonly core: RedisBrokerCore,
    /** Told of each deferral so the promoter can wake in time for it. */
    private readonly onDeferred: (dueMs: number) => void,
  ) {}

  delivery(
    owner: SlotOwner,
    held: HeldDelivery,
    message: TransportMessage,
    redelivered: boolean,
  ): Delivery {
    return new RedisDelivery(this, owner, held, message, redelivered);
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
    const moved = await this.core.run(
      requeueScript,
      [...this.core.unackedKeys, held.listKey],
      [held.tag, envelope, end === 'back' ? '1' : '0'],
    );
    this.core.held.delete(held.tag);
    return moved === 1;
  }

  async deadLetter(held: HeldDelivery, reason: string): Promise<boolean> {
    const entry = encodeDeadLetter({
      queue: held.queue,
      reason,
      at: Date.now(),
      envelope: held.envelope,
    });
    const moved = await this.core.run(
      deadLetterScript,
      [...this.core.unackedKeys, this.core.keys.deadLetter(held.queue)],
      [held.tag, entry],
    );
    this.core.held.delete(held.tag);
    return moved === 1;
  }

  async defer(held: HeldDelivery, deliverAt: number): Promise<boolean> {
    const member = delayedMember(this.core.keys.bareList(held.queue, held.step), held.envelope);
    const due = Math.max(0, Math.round(deliverAt));
    const moved = await this.core.run(
      deferScript,
      [...this.core.unackedKeys, this.core.keys.delayed],
      [held.tag, due, member],
    );
    this.core.held.delete(held.tag);
    this.onDeferred(due);
    return moved === 1;
  }

  warnIfLost(owner: SlotOwner, held: HeldDelivery, moved: boolean): void {
    if (moved) return;
    owner.reportError(
      new Error(
        `Delivery ${held.tag} from ${held.queue} was no longer held when settled (its lease lapsed and ` +
          'another consumer restored it); the settlement was skipped so the message is not doubled.',
      ),
    );
  }
}
