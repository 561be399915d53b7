/**
 * One dedicated connection that LISTENs on a few channels and hands each notification to
 * the callbacks registered for its channel. When the connection drops (the server
 * restarted, a backend was terminated) it reconnects with a growing pause, LISTENs again
 * and tells every `onReconnect` callback, since notifications sent meanwhile are lost:
 * whoever waited on them must look at the tables once. Must never throw into the caller's
 * event loop, and never stop retrying until closed.
 */
import type { Client } from 'pg';
import type { PostgresLocation } from './pg-url.js';
import { quoteIdent } from './pg-url.js';

const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

type Callback = (payload: string) => void;

export class NotifyListener {
  private client: Client | undefined;
  private readonly channels = new Map<string, Set<Callback>>();
  private readonly reconnectCallbacks = new Set<() => void>();
  private connecting: Promise<void> | undefined;
  private retryMs = MIN_RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly location: PostgresLocation,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Starts listening on `channel`; resolves once the LISTEN is in place. */
  async listen(channel: string, callback: Callback): Promise<() => Promise<void>> {
    let callbacks = this.channels.get(channel);
    const fresh = !callbacks;
    if (!callbacks) this.channels.set(channel, (callbacks = new Set()));
    callbacks.add(callback);
    await this.ensureConnected();
    if (fresh && this.client) await this.client.query(`LISTEN ${quoteIdent(channel)}`);
    return async () => {
      const set = this.channels.get(channel);
      set?.delete(callback);
      if (set && set.size === 0) {
        this.channels.delete(channel);
        await this.client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
      }
    };
  }

  /** Called after each reconnect (not the first connect). */
  onReconnect(callback: () => void): () => void {
    this.reconnectCallbacks.add(callback);
    return () => this.reconnectCallbacks.delete(callback);
  }

  private ensureConnected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect(false).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(isReconnect: boolean): Promise<void> {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.location.connectionString });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the LISTEN connection ended')));
    client.on('notification', (note) => {
      const callbacks = this.channels.get(note.channel);
      if (!callbacks) return;
      for (const callback of [...callbacks]) {
        try {
          callback(note.payload ?? '');
        } catch (error) {
          this.onError(error as Error);
        }
      }
    });
    await client.connect();
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    this.client = client;
    this.retryMs = MIN_RETRY_MS;
    if (isReconnect) for (const callback of [...this.reconnectCallbacks]) callback();
  }

  private lost(client: Client, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.onError(
      new Error(`PostgreSQL LISTEN connection lost, reconnecting: ${error.message}`, {
        cause: error,
      }),
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect(true).catch((error: Error) => {
        this.onError(
          new Error(`PostgreSQL LISTEN reconnect failed, retrying: ${error.message}`, {
            cause: error,
          }),
        );
        this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
        this.scheduleReconnect();
      });
    }, this.retryMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    this.channels.clear();
    this.reconnectCallbacks.clear();
    await client?.end().catch(() => undefined);
  }
}

/** A NOTIFY channel name for a schema and a purpose, at most 63 bytes. */
export function channelName(schema: string, prefix: string, purpose: string): string {
  return `${schema}_${prefix}${purpose}`.slice(0, 63);
}
