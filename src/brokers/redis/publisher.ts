/**
 * Publishing: LPUSH of a kombu envelope into the queue's list for its priority (what Celery
 * does), or into our delayed set when `deliverAt` is in the future; the queue's kombu
 * binding is declared on first use, in the same round trip. `publishMany` groups a batch
 * into a few variadic commands inside one MULTI, so it is all-or-nothing.
 * Must never resolve before Redis has the message, nor queue a publish for "later" past
 * `publishTimeoutMs`: a caller is told it failed instead.
 */
import { uuidV7 } from '../../protocol/uuid-v7.js';
import { Command, type ChainableCommander } from 'ioredis';
import type { PublishOptions } from '../broker.js';
import { BrokerConnectionError, MessageTooLargeError } from '../../errors.js';
import type { TransportMessage } from '../../protocol/types.js';
import { whenReady } from '../../connections/redis/connection.js';
import type { RedisBrokerCore } from './core.js';
import { priorityStep, toKombuPriority } from './keys.js';
import { delayedMember, encodeWire } from './wire.js';
import { PublishDeadlines } from './publish-deadlines.js';

/** Values per LPUSH / ZADD in a batch. */
const CHUNK = 1000;

type Prepared =
  | { kind: 'list'; key: string; envelope: Buffer }
  | { kind: 'delayed'; due: number; member: string };

export class RedisPublisher {
  /**
   * Queues whose binding this instance already declared (kombu declares once per queue per
   * process). A queue's binding and member are its name's alone, so the name keys them.
   */
  private readonly declared = new Set<string>();
  private readonly deadlines: PublishDeadlines;

  constructor(
    private readonly core: RedisBrokerCore,
    /** Told of each delayed publish so a local promoter can wake in time. */
    private readonly onDelayed: (dueMs: number) => void,
  ) {
    this.deadlines = new PublishDeadlines(core.settings.publishTimeoutMs);
  }

  publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    return this.publishMany([{ message, options }]);
  }

  /**
   * Not async: an awaited `delay()` is one round trip, and each layer of async functions
   * and awaits on its way costs it promises and turns of the microtask queue. Errors still
   * come back as rejections, never thrown.
   */
  publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    const { client, settings, config } = this.core;
    if (client.status !== 'ready') {
      return whenReady(client, settings.publishTimeoutMs, config.display).then(() =>
        this.send(batch),
      );
    }
    try {
      return this.send(batch);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Sends a batch on a ready connection; throws what a message's preparation refuses. */
  private send(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    const now = Date.now();
    if (batch.length === 1) {
      const { message, options } = batch[0]!;
      const prepared = this.prepare(message, options, now);
      // The common case: one LPUSH (or ZADD), sent as a plain command so that concurrent
      // publishes of one turn share a write (auto-pipelining). A queue's first publish
      // declares its binding in the same round trip.
      if (this.declared.has(options.queue)) return this.sendPrepared(prepared);
      this.declared.add(options.queue);
      const lists = new Map<string, Buffer[]>();
      const delayed: Array<string | number> = [];
      if (prepared.kind === 'list') lists.set(prepared.key, [prepared.envelope]);
      else delayed.push(prepared.due, prepared.member);
      const earliest = prepared.kind === 'list' ? Number.POSITIVE_INFINITY : prepared.due;
      return this.sendBatch([options.queue], lists, delayed, earliest, true);
    }
    const lists = new Map<string, Buffer[]>();
    const delayed: Array<string | number> = [];
    let earliest = Number.POSITIVE_INFINITY;
    const queues: string[] = [];
    for (const { message, options } of batch) {
      const prepared = this.prepare(message, options, now);
      if (prepared.kind === 'list') {
        const values = lists.get(prepared.key);
        if (values) values.push(prepared.envelope);
        else lists.set(prepared.key, [prepared.envelope]);
      } else {
        delayed.push(prepared.due, prepared.member);
        earliest = Math.min(earliest, prepared.due);
      }
      if (!this.declared.has(options.queue)) {
        this.declared.add(options.queue);
        queues.push(options.queue);
      }
    }
    return this.sendBatch(queues, lists, delayed, earliest, false);
  }

  /** One prepared message of a declared queue: a single LPUSH or ZADD. */
  private sendPrepared(prepared: Prepared): Promise<void> {
    if (prepared.kind === 'list')
      return this.sendCommand('lpush', [prepared.key, prepared.envelope]);
    const due = prepared.due;
    return this.sendCommand('zadd', [this.core.keys.delayed, due, prepared.member]).then(() =>
      this.onDelayed(due),
    );
  }

  /**
   * One command, bounded: its own ioredis Command, so that an expired deadline rejects it
   * where it stands (as ioredis's `commandTimeout` does) with no promise wrapped around it.
   */
  private sendCommand(name: string, args: Array<string | number | Buffer>): Promise<void> {
    const { client } = this.core;
    // Our connections never set ioredis's own keyPrefix (keys carry ours already).
    const command = new Command(name, args, { replyEncoding: 'utf8' });
    const deadline = this.deadlines.track(() => command.reject(this.timeoutError()));
    void client.sendCommand(command);
    return command.promise.then(
      () => this.deadlines.settle(deadline),
      (error: unknown) => {
        this.deadlines.settle(deadline);
        throw this.failure(error);
      },
    );
  }

  private async sendBatch(
    /** Queues whose binding this batch declares. */
    queues: string[],
    lists: Map<string, Buffer[]>,
    delayed: Array<string | number>,
    earliest: number,
    single: boolean,
  ): Promise<void> {
    const { client } = this.core;
    // One message needs no transaction: a single LPUSH (plus its first SADD) is enough.
    const pipeline: ChainableCommander = single ? client.pipeline() : client.multi();
    const { keys } = this.core;
    for (const queue of queues)
      pipeline.sadd(keys.binding(queue), keys.bindingMember(queue, queue));
    for (const [key, values] of lists) {
      for (let i = 0; i < values.length; i += CHUNK)
        pipeline.lpush(key, ...values.slice(i, i + CHUNK));
    }
    for (let i = 0; i < delayed.length; i += 2 * CHUNK)
      pipeline.zadd(this.core.keys.delayed, ...delayed.slice(i, i + 2 * CHUNK));
    try {
      await this.bounded(pipeline.exec().then(checkReplies));
    } catch (error) {
      for (const queue of queues) this.declared.delete(queue);
      throw error;
    }
    if (earliest !== Number.POSITIVE_INFINITY) this.onDelayed(earliest);
  }

  private prepare(message: TransportMessage, options: PublishOptions, now: number): Prepared {
    const kombu = toKombuPriority(options.priority);
    const step = priorityStep(kombu);
    // A UUIDv7 tag: its first 48 bits are the publish time (the queues page's oldest message).
    const envelope = encodeWire(message, uuidV7(now), {
      exchange: '',
      routingKey: options.queue,
      kombuPriority: kombu,
    });
    this.checkSize(envelope, options.queue);
    if (
      options.deliverAt !== undefined &&
      options.deliverAt > now &&
      this.core.settings.delayMode === 'zset'
    ) {
      return {
        kind: 'delayed',
        due: Math.round(options.deliverAt),
        member: delayedMember(this.core.keys.bareList(options.queue, step), envelope),
      };
    }
    // An envelope is ASCII (json.dumps escapes every other character), so its latin1 bytes
    // are its UTF-8 bytes: handed to ioredis as one flat buffer, it is copied once into the
    // command instead of being flattened, measured and encoded again from a string of pieces.
    return {
      kind: 'list',
      key: this.core.keys.list(options.queue, step),
      envelope: Buffer.from(envelope, 'latin1'),
    };
  }

  /** Refuses what a consumer with the same settings would dead-letter unread. */
  private checkSize(envelope: string, queue: string): void {
    const limit = this.core.settings.maxEnvelopeBytes;
    // A UTF-16 unit is at most 3 bytes of UTF-8: only a long envelope needs counting.
    if (envelope.length * 3 <= limit) return;
    const bytes = Buffer.byteLength(envelope);
    if (bytes > limit) throw new MessageTooLargeError(bytes, limit, queue, 'maxEnvelopeBytes');
  }

  /** Rejects once `publishTimeoutMs` passes, saying the outcome is unknown (the command was sent). */
  private bounded(work: Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const deadline = this.deadlines.track(() => reject(this.timeoutError()));
      work.then(
        () => {
          this.deadlines.settle(deadline);
          resolve();
        },
        (error: unknown) => {
          this.deadlines.settle(deadline);
          reject(this.failure(error));
        },
      );
    });
  }

  private timeoutError(): BrokerConnectionError {
    return new BrokerConnectionError(
      `Redis at ${this.core.config.display} did not confirm a publish within ${this.core.settings.publishTimeoutMs} ms: ` +
        'it was sent, so it may or may not be stored. Retry if your task tolerates a duplicate.',
    );
  }

  private failure(error: unknown): BrokerConnectionError {
    return error instanceof BrokerConnectionError
      ? error
      : new BrokerConnectionError(
          `Publishing to Redis at ${this.core.config.display} failed: ${(error as Error).message}`,
          { cause: error },
        );
  }
}

function checkReplies(replies: Array<[Error | null, unknown]> | null): void {
  if (replies === null) throw new Error('the transaction was discarded');
  for (const [error] of replies) if (error) throw error;
}
