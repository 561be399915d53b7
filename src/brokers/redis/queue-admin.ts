/**
 * Queue housekeeping: how many messages wait in a queue (all its priority lists), purging
 * a queue's ready messages (those lists), reading its dead letters and redriving them.
 * Must never touch another queue's entries, nor a message a worker holds (unacked).
 */
import { createHash } from 'node:crypto';
import type { DeadLetterInfo } from '../broker.js';
import { decodeEnvelope } from '../../protocol/kombu-envelope.js';
import { runScript } from '../../connections/redis/script-runner.js';
import type { RedisBrokerCore } from './core.js';
import { PRIORITY_STEPS, priorityStep } from './keys.js';
import { redriveScript } from './scripts/redrive.js';
import { tailTagsScript } from './scripts/oldest.js';
import { uuidV7Time } from '../../protocol/uuid-v7.js';
import type { OldestMessage } from '../broker.js';
import { decodeDeadLetter, routeOf, type DeadLetterEntry } from './wire.js';

/** Dead letters read at most per listing or redrive. */
const MAX_READ = 10_000;

/** A letter's id: a digest of its stored entry (the list has no ids of its own). */
const letterId = (raw: string) => createHash('sha1').update(raw).digest('hex').slice(0, 20);

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
   * When the message next in line in the queue was published, from its delivery tag: ours
   * are UUIDv7 (their first 48 bits are the publish time). The oldest over the queue's
   * priority lists; unknown, with the reason, when one of them starts with a message whose
   * tag holds no time (sent by Python Celery or an older Celeriac: a uuid4). One script
   * call, no scan, no body read.
   */
  async oldestMessageAt(queue: string): Promise<number | null | OldestMessage> {
    const lists = PRIORITY_STEPS.map((step) => this.core.keys.list(queue, step));
    const tags = (await runScript(this.core.client, tailTagsScript, lists, [])) as Array<
      string | null
    >;
    let oldest: number | null = null;
    for (const tag of tags) {
      if (tag === null || tag === undefined) continue;
      const at = uuidV7Time(tag);
      if (at === undefined)
        return {
          unknown:
            'the next message has a delivery tag without a time (sent by Python Celery or an older Celeriac)',
        };
      oldest = oldest === null ? at : Math.min(oldest, at);
    }
    return oldest;
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

  /** The contract's view of the dead letters, newest first. */
  async listDeadLetters(queue: string, limit: number): Promise<DeadLetterInfo[]> {
    const raw = await this.core.client.lrange(this.core.keys.deadLetter(queue), 0, limit - 1);
    const letters: DeadLetterInfo[] = [];
    for (const text of raw) {
      const entry = decodeDeadLetter(text);
      if (!entry) continue;
      let message;
      try {
        message = entry.envelope ? decodeEnvelope(entry.envelope) : undefined;
      } catch {
        message = undefined;
      }
      letters.push({ id: letterId(text), queue, reason: entry.reason, deadAt: entry.at, message });
    }
    return letters;
  }

  /** Pushes the letters back onto their queue's list for their priority, each at most once. */
  async redriveDeadLetters(queue: string, ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids);
    const key = this.core.keys.deadLetter(queue);
    let moved = 0;
    for (const text of await this.core.client.lrange(key, 0, MAX_READ - 1)) {
      if (!wanted.has(letterId(text))) continue;
      const entry = decodeDeadLetter(text);
      if (!entry?.envelope) continue;
      let list: string;
      try {
        list = this.core.keys.list(queue, priorityStep(routeOf(entry.envelope).kombuPriority));
      } catch {
        continue; // an envelope that does not decode cannot run again
      }
      moved += Number(
        await runScript(this.core.client, redriveScript, [key, list], [text, entry.envelope]),
      );
    }
    return moved;
  }
}
