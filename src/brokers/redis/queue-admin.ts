/**
 * Queue housekeeping: how many messages wait in a queue (all its priority lists), purging
 * a queue (waiting, delayed and unacked messages), and reading its dead letters.
 * Must never touch another queue's entries: delayed and unacked entries are matched by
 * their exact list name or routing key, never by pattern.
 */
import type { RedisBrokerCore } from './core.js';
import { PRIORITY_STEPS } from './keys.js';
import { decodeDeadLetter, parseDelayedMember, tripleTail, type DeadLetterEntry } from './wire.js';

const SCAN_COUNT = 500;

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

  /** Deletes the queue's waiting, delayed and unacked messages; returns how many. */
  async purge(queue: string): Promise<number> {
    const { client, keys } = this.core;
    const transaction = client.multi();
    for (const step of PRIORITY_STEPS) transaction.llen(keys.list(queue, step));
    for (const step of PRIORITY_STEPS) transaction.del(keys.list(queue, step));
    const replies = (await transaction.exec()) ?? [];
    let removed = replies.slice(0, PRIORITY_STEPS.length).reduce((sum, [, count]) => sum + Number(count), 0);
    removed += await this.purgeDelayed(queue);
    removed += await this.purgeUnacked(queue);
    return removed;
  }

  private async purgeDelayed(queue: string): Promise<number> {
    const { client, keys } = this.core;
    const lists = new Set(PRIORITY_STEPS.map((step) => keys.bareList(queue, step)));
    let cursor = '0';
    let removed = 0;
    do {
      const [next, flat] = await client.zscan(keys.delayed, cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      const doomed: string[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        const member = flat[i] as string;
        const parsed = parseDelayedMember(member);
        if (parsed && lists.has(parsed.bareList)) doomed.push(member);
      }
      if (doomed.length) removed += await client.zrem(keys.delayed, ...doomed);
    } while (cursor !== '0');
    return removed;
  }

  private async purgeUnacked(queue: string): Promise<number> {
    const { client, keys } = this.core;
    const tail = tripleTail('', queue);
    let cursor = '0';
    let removed = 0;
    do {
      const [next, flat] = await client.hscan(keys.unacked, cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      const doomed: string[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        if ((flat[i + 1] as string).endsWith(tail)) doomed.push(flat[i] as string);
      }
      if (doomed.length) {
        const [[, count] = [null, 0]] = (await client
          .multi()
          .hdel(keys.unacked, ...doomed)
          .zrem(keys.unackedIndex, ...doomed)
          .zrem(keys.leases, ...doomed)
          .exec()) ?? [[null, 0]];
        removed += Number(count);
      }
    } while (cursor !== '0');
    return removed;
  }

  /** The queue's dead letters, newest first. */
  async deadLetters(queue: string, limit = 100): Promise<DeadLetterEntry[]> {
    const raw = await this.core.client.lrange(this.core.keys.deadLetter(queue), 0, limit - 1);
    return raw.map(decodeDeadLetter).filter((entry): entry is DeadLetterEntry => entry !== undefined);
  }
}
