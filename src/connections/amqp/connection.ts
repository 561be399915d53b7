/**
 * Keeps one AMQP connection alive: connects with backoff, notices a loss (socket closed,
 * heartbeat missed, `rabbitmqctl close_connection`), reconnects, and runs the setup hooks
 * (resume consumers) on each new connection. Callers wait for a connection, bounded by
 * their own deadline.
 *
 * Must never give up reconnecting while open (an outage can last minutes), and never hand
 * out a connection that has been lost.
 */
import type * as Amqplib from 'amqplib';
import { amqplib } from './amqplib.js';
import { BrokerConnectionError } from '../../errors.js';

/** Runs on every (re)connection, in registration order; a hook that throws restarts the connection. */
export type SetupHook = (connection: Amqplib.ChannelModel, epoch: number) => Promise<void>;

export interface ConnectionOptions {
  target: Amqplib.Options.Connect;
  socketOptions: Amqplib.SocketOptions;
  redactedUrl: string;
  connectionName: string;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  onError: (error: Error) => void;
}

type State = 'idle' | 'connecting' | 'ready' | 'down' | 'closed';

interface Waiter {
  resolve: (connection: Amqplib.ChannelModel) => void;
  reject: (error: Error) => void;
}

export class AmqpConnection {
  private state: State = 'idle';
  private model: Amqplib.ChannelModel | undefined;
  private currentEpoch = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private blockedReason: string | undefined;
  private readonly hooks: SetupHook[] = [];
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly options: ConnectionOptions) {}

  /** Increases with each new connection; channels opened on an older one are dead. */
  get epoch(): number {
    return this.currentEpoch;
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Why RabbitMQ is holding publishes back (a resource alarm), if it is. */
  get blocked(): string | undefined {
    return this.blockedReason;
  }

  /** Adds a hook for every later (re)connection. Returns its removal. */
  onSetup(hook: SetupHook): () => void {
    this.hooks.push(hook);
    return () => {
      const index = this.hooks.indexOf(hook);
      if (index >= 0) this.hooks.splice(index, 1);
    };
  }

  /**
   * Connects (once; later calls wait for the same connection). Rejects with
   * BrokerConnectionError when no connection is ready within `timeoutMs`, and stops trying.
   */
  async start(timeoutMs: number): Promise<Amqplib.ChannelModel> {
    if (this.state === 'closed')
      throw new BrokerConnectionError(
        `The AMQP connection to ${this.options.redactedUrl} is closed.`,
      );
    if (this.state === 'idle') {
      this.state = 'connecting';
      void this.attemptConnect();
    }
    try {
      return await this.ready(timeoutMs, 'Connecting');
    } catch (error) {
      // The await above may have seen the state change (TypeScript cannot know).
      const state = this.state as State;
      if (state !== 'ready' && state !== 'closed') this.stopTrying();
      throw error;
    }
  }

  /** The ready connection, waiting up to `timeoutMs` for a reconnection in progress. */
  ready(timeoutMs: number, what: string): Promise<Amqplib.ChannelModel> {
    if (this.state === 'ready' && this.model) return Promise.resolve(this.model);
    if (this.state === 'closed' || this.state === 'idle') {
      return Promise.reject(
        new BrokerConnectionError(
          `${what} needs the AMQP connection, which is closed: call connect() first.`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.waiters.delete(waiter);
          reject(this.unavailable(what, timeoutMs));
        },
        Math.max(0, timeoutMs),
      );
      const waiter: Waiter = {
        resolve: (connection) => {
          clearTimeout(timer);
          resolve(connection);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Drops the current connection on purpose (e.g. a setup step failed); it reconnects. */
  restart(reason: Error): void {
    const model = this.model;
    this.options.onError(reason);
    if (model) void model.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.rejectWaiters(
      new BrokerConnectionError(`The AMQP connection to ${this.options.redactedUrl} was closed.`),
    );
    const model = this.model;
    this.model = undefined;
    if (model) await model.close().catch(() => undefined);
  }

  private unavailable(what: string, timeoutMs: number): BrokerConnectionError {
    const why = this.blockedReason
      ? `RabbitMQ is blocking publishers (${this.blockedReason}): free memory or disk on the server`
      : this.lastError
        ? `last error: ${this.lastError.message}`
        : 'still connecting';
    return new BrokerConnectionError(
      `${what} could not reach RabbitMQ at ${this.options.redactedUrl} within ${timeoutMs} ms (${why}). ` +
        'Check that RabbitMQ is running and the URL, user and vhost are right.',
    );
  }

  private stopTrying(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'idle';
    const model = this.model;
    this.model = undefined;
    if (model) void model.close().catch(() => undefined);
  }

  private async attemptConnect(): Promise<void> {
    if (this.state !== 'connecting' && this.state !== 'down') return;
    let model: Amqplib.ChannelModel;
    try {
      model = await amqplib.connect(this.options.target, {
        ...this.options.socketOptions,
        clientProperties: { connection_name: this.options.connectionName, product: 'celeriac' },
      });
    } catch (error) {
      this.lastError = error as Error;
      this.scheduleReconnect();
      return;
    }
    if (this.state !== 'connecting' && this.state !== 'down') {
      await model.close().catch(() => undefined);
      return;
    }
    this.currentEpoch += 1;
    const epoch = this.currentEpoch;
    this.model = model;
    this.blockedReason = undefined;
    // 'error' always comes with a 'close'; it only needs a listener so Node does not throw.
    model.on('error', (error: Error) => (this.lastError = error));
    model.on('close', (error?: Error) => this.onLost(model, error));
    model.on('blocked', (reason: string) => (this.blockedReason = reason));
    model.on('unblocked', () => (this.blockedReason = undefined));
    this.state = 'ready';
    this.attempt = 0;
    this.lastError = undefined;
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.resolve(model);
    }
    // Hooks run after "ready" so that they may themselves wait for the connection
    // (declarations, channels) without waiting on their own completion.
    try {
      for (const hook of [...this.hooks]) {
        if (this.model !== model) return;
        await hook(model, epoch);
      }
    } catch (error) {
      if (this.model !== model) return;
      this.lastError = error as Error;
      this.restart(
        new BrokerConnectionError(
          `Setting up the AMQP connection failed: ${(error as Error).message}`,
          { cause: error },
        ),
      );
    }
  }

  private onLost(model: Amqplib.ChannelModel, error: Error | undefined): void {
    if (this.model !== model) return;
    this.model = undefined;
    if (this.state === 'closed' || this.state === 'idle') return;
    this.state = 'down';
    if (error) this.lastError = error;
    this.options.onError(
      new BrokerConnectionError(
        `Lost the AMQP connection to ${this.options.redactedUrl}${error ? ` (${error.message})` : ''}; reconnecting.`,
        { cause: error },
      ),
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.timer || this.state === 'closed' || this.state === 'idle') return;
    this.state = this.state === 'connecting' ? 'connecting' : 'down';
    this.attempt += 1;
    const base = Math.min(
      this.options.reconnectMaxMs,
      this.options.reconnectInitialMs * 2 ** (this.attempt - 1),
    );
    // Jitter spreads reconnects of many workers after a broker restart.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attemptConnect();
    }, delay);
  }

  private rejectWaiters(error: Error): void {
    for (const waiter of [...this.waiters]) waiter.reject(error);
    this.waiters.clear();
  }
}
