/**
 * Queue housekeeping: how many messages wait in a queue (all its priority lists), purging
 * a queue's ready messages (those lists), and reading its dead letters.
 * Must never touch another queue's entries, nor a message a worker holds (unacked).
 */
import type { RedisBrokerCore } from './core.js';
import { PRIORITY_STEPS } from './keys.js';
import { decodeDeadLetter, type DeadLetterEntry } from './wire.js';

export class QueueAdmin {
  constructor(private readonly core: RedisBrokerCore) {}

  async queueLength(queue: string): Promise<number> {
    const pipeline = this.core.client.pipeline();
    for (const step of PRIORITY_STEPS) pipeline.llen(this.core.keys.list(queue, step));
    const replies = (await pipeline.exec()) ?? [];
    return replies.reduce((sum, [error, count]) => {
      if (error) throw error;
      return sum + Number(count);
    }, 0);
  }

  /**
   * Deletes the queue's ready messages (all its priority lists) and returns how many, as
   * kombu's purge does. Unacked messages and delayed ones not yet moved to a list stay.
   */
  async purge(queue: string): Promise<number> {
    const { client, keys } = this.core;
    const transaction = client.multi();
    for (const step of PRIORITY_STEPS) transaction.llen(keys.list(queue, step));
    for (const step of PRIORITY_STEPS) transaction.del(keys.list(queue, step));
    const replies = (await transaction.exec()) ?? [];
    return replies.slice(0, PRIORITY_STEPS.length).reduce((sum, [error, count]) => {
      if (error) throw error;
      return sum + Number(count);
    }, 0);
  }

  /** The queue's dead letters, newest first. */
  async deadLetters(queue: string, limit = 100): Promise<DeadLetterEntry[]> {
    const raw = await this.core.client.lrange(this.core.keys.deadLetter(queue), 0, limit - 1);
    return raw
      .map(decodeDeadLetter)
      .filter((entry): entry is DeadLetterEntry => entry !== undefined);
  }
}
