/**
 * Reading and redriving the dead letters RabbitMQ holds in `<queue>.dead-letter` (the
 * `deadLetter` option): AMQP cannot peek, so each call takes the letters with basic.get on
 * a channel of its own, unacknowledged, and gives back every one it does not move with a
 * requeue (RabbitMQ puts them back in place). A letter held by one call is invisible to
 * another, so two redrives racing move it once. A moved letter is published to its queue,
 * confirmed, and only then acknowledged: a crash in between leaves it in both places,
 * never in none.
 */
import { createHash } from 'node:crypto';
import type * as Amqplib from 'amqplib';
import type { DeadLetterInfo } from '../broker.js';
import type { JsonValue, TransportMessage } from '../../protocol/types.js';
import type { AmqpConnection } from '../../connections/amqp/connection.js';
import { fromAmqpMessage, withoutDeadLetterHeaders } from './message-codec.js';
import type { Topology } from './topology.js';

/** Letters one redrive looks through at most (held unacknowledged until it ends). */
const MAX_SCAN = 10_000;

export interface DeadLetterDeps {
  connection: AmqpConnection;
  topology: Topology;
  timeoutMs: number;
  /** Publishes the message to its work queue, confirmed. */
  publish: (message: TransportMessage, queue: string) => Promise<void>;
}

/** Stable while the letter stays: its body and the headers that set it apart from a copy. */
function letterId(raw: Amqplib.Message): string {
  const headers = (raw.properties.headers ?? {}) as Record<string, unknown>;
  const hash = createHash('sha256');
  hash.update(raw.content);
  hash.update(`\0${String(headers.id)}\0${String(headers['x-celeriac-rejected-at'])}`);
  hash.update(`\0${String(raw.properties.messageId)}\0${String(raw.properties.timestamp)}`);
  return hash.digest('hex').slice(0, 32);
}

/** The first entry of RabbitMQ's own `x-death` record, when it wrote one. */
function firstDeath(headers: Record<string, JsonValue | undefined>): Record<string, JsonValue> {
  const deaths = headers['x-death'];
  const first = Array.isArray(deaths) ? deaths[0] : undefined;
  return first !== null && typeof first === 'object' && !Array.isArray(first) ? first : {};
}

function toInfo(raw: Amqplib.Message, queue: string): DeadLetterInfo {
  const message = fromAmqpMessage(raw);
  const headers = message.headers;
  const death = firstDeath(headers);
  const reason =
    typeof headers['x-celeriac-reason'] === 'string'
      ? headers['x-celeriac-reason']
      : typeof death.reason === 'string'
        ? `${death.reason} (RabbitMQ)`
        : 'dead-lettered';
  const rejectedAt =
    typeof headers['x-celeriac-rejected-at'] === 'string'
      ? Date.parse(headers['x-celeriac-rejected-at'])
      : Number.NaN;
  // x-death's time is an AMQP timestamp, in seconds.
  const deathTime = typeof death.time === 'number' ? death.time * 1000 : Number.NaN;
  const deadAt = Number.isFinite(rejectedAt)
    ? rejectedAt
    : Number.isFinite(deathTime)
      ? deathTime
      : 0;
  return { id: letterId(raw), queue, reason, deadAt, message };
}

export class AmqpDeadLetters {
  constructor(private readonly deps: DeadLetterDeps) {}

  /** The oldest `limit` dead letters of `queue`, oldest first; all of them stay. */
  list(queue: string, limit: number): Promise<DeadLetterInfo[]> {
    return this.holding(queue, async (channel, name) => {
      const letters: DeadLetterInfo[] = [];
      while (letters.length < limit) {
        const raw = await channel.get(name, { noAck: false });
        if (raw === false) break;
        letters.push(toInfo(raw, queue));
      }
      return letters;
    });
  }

  /** Moves the letters with these ids back to `queue`; answers how many moved. */
  redrive(queue: string, ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids);
    if (wanted.size === 0) return Promise.resolve(0);
    return this.holding(queue, async (channel, name) => {
      let moved = 0;
      for (let scanned = 0; scanned < MAX_SCAN && moved < wanted.size; scanned += 1) {
        const raw = await channel.get(name, { noAck: false });
        if (raw === false) break;
        if (!wanted.has(letterId(raw))) continue;
        await this.deps.publish(withoutDeadLetterHeaders(fromAmqpMessage(raw)), queue);
        channel.ack(raw);
        moved += 1;
      }
      return moved;
    });
  }

  /** Runs `fn` on a channel of its own; what it got and did not ack goes back on the way out. */
  private async holding<T>(
    queue: string,
    fn: (channel: Amqplib.Channel, deadLetterQueue: string) => Promise<T>,
  ): Promise<T> {
    const { connection, topology, timeoutMs } = this.deps;
    await topology.ensureQueue(queue); // declares the dead-letter queue too
    const model = await connection.ready(timeoutMs, 'Reading dead letters');
    const channel = await model.createChannel();
    try {
      return await fn(channel, topology.deadLetterQueue(queue));
    } finally {
      try {
        channel.nackAll(true);
      } catch {
        // the channel is gone: RabbitMQ requeued what it held
      }
      await channel.close().catch(() => undefined);
    }
  }
}
