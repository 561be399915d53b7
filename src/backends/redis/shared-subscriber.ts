/**
 * One subscriber connection per backend instance, shared by every waiter: SUBSCRIBE once
 * per channel however many listeners it has, UNSUBSCRIBE when the last one leaves, and
 * tell the owner after a reconnect which channels may have missed a message meanwhile.
 * Must never resolve a subscription before Redis confirmed it: callers subscribe before
 * they read, so that nothing stored in between is missed.
 */
import type { Redis } from 'ioredis';
import {
  closeConnection,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';

export type MessageListener = (message: string) => void;

interface Channel {
  listeners: Set<MessageListener>;
  /** Settles when Redis confirmed the SUBSCRIBE. */
  subscribed: Promise<unknown>;
}

export class SharedSubscriber {
  private connection: Redis | undefined;
  private readonly channels = new Map<string, Channel>();
  private wasReady = false;

  constructor(
    private readonly config: RedisUrlConfig,
    private readonly onError: (error: Error) => void,
    /** Called after a reconnect, once every channel is subscribed again, with their names. */
    private readonly onResubscribed: (channels: string[]) => void,
    /** Called when the connection drops: messages may be missed until `onResubscribed`. */
    private readonly onDisconnected: () => void = () => undefined,
  ) {}

  async subscribe(channel: string, listener: MessageListener): Promise<() => Promise<void>> {
    const connection = this.open();
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), subscribed: connection.subscribe(channel) };
      this.channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    const current = entry;
    try {
      await current.subscribed;
    } catch (error) {
      current.listeners.delete(listener);
      if (current.listeners.size === 0 && this.channels.get(channel) === current)
        this.channels.delete(channel);
      throw error;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      current.listeners.delete(listener);
      if (current.listeners.size > 0 || this.channels.get(channel) !== current) return;
      this.channels.delete(channel);
      await this.connection?.unsubscribe(channel).catch((error: Error) => this.onError(error));
    };
  }

  /** Hands a message to this channel's local listeners, as if it had been published. */
  deliver(channel: string, message: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const listener of [...entry.listeners]) {
      try {
        listener(message);
      } catch (error) {
        this.onError(error as Error);
      }
    }
  }

  async close(): Promise<void> {
    this.channels.clear();
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await closeConnection(connection);
  }

  private open(): Redis {
    if (this.connection) return this.connection;
    const connection = openConnection(this.config, 'subscribe', this.onError);
    connection.on('message', (channel: string, message: string) => this.deliver(channel, message));
    connection.on('close', () => this.onDisconnected());
    connection.on('ready', () => {
      if (!this.wasReady) {
        this.wasReady = true;
        return;
      }
      // ioredis re-subscribes on its own after a reconnect; subscribing again (a no-op for
      // Redis) tells us when that is done. Messages published while we were away are lost,
      // so the owner then re-reads what it can.
      const channels = [...this.channels.keys()];
      if (channels.length === 0) return;
      connection.subscribe(...channels).then(
        () => this.onResubscribed(channels),
        (error: Error) => this.onError(error),
      );
    });
    this.connection = connection;
    return connection;
  }
}
