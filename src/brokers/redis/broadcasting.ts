/**
 * Remote control and events on Redis, laid out as kombu's Redis transport does so Python
 * Celery's workers and tools take part: a fanout or topic exchange is a PUBLISH channel
 * `<prefix>/<db>.<exchange>[/<routing key>]` (kombu's `fanout_prefix` and
 * `fanout_patterns`), listened to with PSUBSCRIBE (`#` becomes `*`); a direct exchange (the
 * pidbox replies) is kombu's binding set `_kombu.binding.<exchange>`, whose members name
 * the lists a message is LPUSHed onto. Messages are kombu envelopes.
 *
 * Uses connections of its own (one subscriber, one blocking reader per reply queue), never
 * the broker's task connection's blocking commands: it must not slow the task hot path.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type {
  BroadcastListener,
  BroadcastQueueSpec,
  Broadcasting,
  ExchangeSpec,
} from '../broker.js';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import {
  closeConnection,
  connectChecked,
  openConnection,
} from '../../connections/redis/connection.js';
import type { RedisBrokerCore } from './core.js';
import { SEP } from './keys.js';

type Handler = { onMessage: (message: TransportMessage) => void; onError: (error: Error) => void };

/** Seconds a reply reader's BRPOP blocks before it looks again (and notices a close). */
const REPLY_BLOCK_SECONDS = 1;

export class RedisBroadcasting implements Broadcasting {
  private subscriber: Redis | undefined;
  private subscribing: Promise<Redis> | undefined;
  private readonly patterns = new Map<string, Set<Handler>>();
  private readonly readers = new Set<ReplyReader>();
  private closed = false;

  constructor(
    private readonly core: RedisBrokerCore,
    private readonly connect: () => Promise<void>,
  ) {}

  /** kombu's `_get_publish_topic`: `/<db>.<exchange>`, then `/<routing key>` when there is one. */
  channel(exchange: string, routingKey: string): string {
    const db = this.core.config.connection.db ?? 0;
    const base = `${this.core.keys.prefix}/${db}.${exchange}`;
    return routingKey ? `${base}/${routingKey}` : base;
  }

  async send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void> {
    await this.connect();
    const envelope = encodeEnvelope(message, randomUUID());
    const client = this.core.client;
    if (exchange.type !== 'direct') {
      await client.publish(this.channel(exchange.name, routingKey), envelope);
      return;
    }
    // kombu's DirectExchange: every queue bound with this routing key gets a copy; none, none.
    const members = await client.smembers(this.core.keys.binding(exchange.name));
    const queues = new Set<string>();
    for (const member of members) {
      const [key, , queue] = member.split(SEP);
      if (key === routingKey && queue) queues.add(queue);
    }
    if (queues.size === 0) return;
    const pipeline = client.pipeline();
    for (const queue of queues) pipeline.lpush(this.core.keys.list(queue), envelope);
    await pipeline.exec();
  }

  async listen(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError: (error: Error) => void = () => undefined,
  ): Promise<BroadcastListener> {
    if (this.closed) throw new Error('The Redis broker is closed.');
    await this.connect();
    if (spec.exchange.type === 'direct') return this.listenOnList(spec, onMessage, onError);
    const pattern = this.channel(spec.exchange.name, spec.bindingKey.replace(/#/g, '*'));
    const handler: Handler = { onMessage, onError };
    const subscriber = await this.subscriberConnection();
    let handlers = this.patterns.get(pattern);
    if (!handlers) {
      handlers = new Set();
      this.patterns.set(pattern, handlers);
      await subscriber.psubscribe(pattern);
    }
    handlers.add(handler);
    return {
      close: async () => {
        const set = this.patterns.get(pattern);
        if (!set?.delete(handler) || set.size > 0) return;
        this.patterns.delete(pattern);
        if (this.subscriber?.status === 'ready')
          await this.subscriber.punsubscribe(pattern).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.readers].map((reader) => reader.close()));
    this.patterns.clear();
    if (this.subscriber) await closeConnection(this.subscriber);
  }

  private subscriberConnection(): Promise<Redis> {
    this.subscribing ??= (async () => {
      const subscriber = openConnection(this.core.config, 'broadcast', (error) =>
        this.reportAll(error),
      );
      await connectChecked(subscriber, this.core.config);
      subscriber.on('pmessage', (pattern: string, _channel: string, data: string) =>
        this.dispatch(pattern, data),
      );
      this.subscriber = subscriber;
      return subscriber;
    })().catch((error: unknown) => {
      this.subscribing = undefined;
      throw error;
    });
    return this.subscribing;
  }

  private dispatch(pattern: string, data: string): void {
    const handlers = this.patterns.get(pattern);
    if (!handlers) return;
    let message: TransportMessage;
    try {
      message = decodeEnvelope(data);
    } catch (error) {
      for (const handler of handlers) handler.onError(error as Error);
      return;
    }
    for (const handler of handlers) handler.onMessage(message);
  }

  private reportAll(error: Error): void {
    for (const handlers of this.patterns.values())
      for (const handler of handlers) handler.onError(error);
  }

  /** A queue bound to a direct exchange: kombu's binding member, then a blocking reader of its list. */
  private async listenOnList(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError: (error: Error) => void,
  ): Promise<BroadcastListener> {
    const keys = this.core.keys;
    const bindingKey = keys.binding(spec.exchange.name);
    const member = keys.bindingMember(spec.bindingKey, spec.name);
    await this.core.client.sadd(bindingKey, member);
    const reader = new ReplyReader(
      openConnection(this.core.config, 'replies', onError),
      keys.list(spec.name),
      onMessage,
      onError,
      async () => {
        this.readers.delete(reader);
        // As kombu's `after_reply_message_received`: the binding and the list go.
        if (this.core.client.status !== 'ready') return;
        await this.core.client
          .multi()
          .srem(bindingKey, member)
          .del(keys.list(spec.name))
          .exec()
          .catch(() => undefined);
      },
    );
    this.readers.add(reader);
    await connectChecked(reader.connection, this.core.config);
    reader.start();
    return reader;
  }
}

/** Pops a reply list on its own connection until closed. */
class ReplyReader implements BroadcastListener {
  private closing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    readonly connection: Redis,
    private readonly list: string,
    private readonly onMessage: (message: TransportMessage) => void,
    private readonly onError: (error: Error) => void,
    private readonly cleanup: () => Promise<void>,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.closing) {
      let popped: [string, string] | null;
      try {
        popped = await this.connection.brpop(this.list, REPLY_BLOCK_SECONDS);
      } catch (error) {
        if (this.closing) return;
        this.onError(error as Error);
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      if (!popped || this.closing) continue;
      try {
        this.onMessage(decodeEnvelope(popped[1]));
      } catch (error) {
        this.onError(error as Error);
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.connection.disconnect(false);
      await this.loop?.catch(() => undefined);
      await this.cleanup();
    })();
    return this.closing;
  }
}
