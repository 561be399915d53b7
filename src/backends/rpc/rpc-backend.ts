/**
 * The rpc:// result backend, as Celery's: a worker sends each state of a task as a message
 * to the reply queue named in the task message (`reply_to`, the caller's oid), with
 * `correlation_id` = task id; the caller consumes its reply queue and keeps what arrives.
 *
 * What rpc:// cannot do, by design (Celery's rpc backend cannot either):
 * - results are visible only to the process that sent the task (the owner of the reply
 *   queue); another process asking for the same id sees PENDING;
 * - results live in that process's memory: a restart loses them, and a result is read once
 *   (Celery: "results can only be retrieved once");
 * - no chords (no shared counter), and no storage of revocations: revokes are broadcast
 *   as Celery's remote-control `revoke` and known while the process runs.
 * Use a Redis or SQLite result backend for anything else.
 *
 * Must never publish a result anywhere but the caller's reply queue.
 */
import { randomUUID } from 'node:crypto';
import type * as Amqplib from 'amqplib';
import type { ResultBackend, StoreOptions, Unsubscribe } from '../backend.js';
import type { Broker } from '../../brokers/broker.js';
import type { BackendFactoryOptions } from '../registry.js';
import type { ResultMeta } from '../../protocol/types.js';
import { CeleriacError } from '../../errors.js';
import { AmqpConnection } from '../../connections/amqp/connection.js';
import { ConfirmPublisher, UnroutableError } from '../../connections/amqp/publisher.js';
import { parseAmqpUrl, redact } from '../../connections/amqp/amqp-url.js';
import { replyRoutesOf, type ReplyRoutes } from '../../connections/amqp/reply-routes.js';
import { replyQueueOptions } from '../../connections/amqp/reply-queue.js';
import { ResultCache } from './result-cache.js';
import { decodeRpcResult, encodeRpcResult, rpcResultProperties } from './result-message.js';
import { Revocations } from './revocations.js';

export interface RpcBackendOptions extends BackendFactoryOptions {
  /**
   * The RabbitMQ to use. Default: the URL in `rpc://user:pass@host/vhost` if it names a
   * host, else the app's AMQP broker (`attachBroker`), else `CELERIAC_BROKER_URL`.
   */
  brokerUrl?: string;
  /** This process's reply queue (Celery: the app's oid); consumed from the start when given. */
  oid?: string;
  connectionName?: string;
  /** How long a store may wait for RabbitMQ during an outage. @default 30000 */
  publishTimeoutMs?: number;
  onError?: (error: Error) => void;
}

/**
 * Where to send one stored meta: the contract's `replyTo` and `correlationId` (the worker
 * passes the task message's). Without `replyTo`: the reply queue of the app's broker's
 * message for the task, else nowhere (kept in this process).
 */
export type RpcStoreOptions = StoreOptions;

/** How long get() waits for results already waiting in a reply queue it starts to read. */
const BACKLOG_WAIT_MS = 1000;

export class RpcBackend implements ResultBackend {
  readonly kind = 'rpc';
  private connection: AmqpConnection | undefined;
  private publisher: ConfirmPublisher | undefined;
  private revocations: Revocations | undefined;
  private connecting: Promise<void> | undefined;
  private readonly cache: ResultCache;
  private readonly listening = new Map<string, Promise<void>>();
  private readonly declared = new Map<string, number>();
  private readonly resultTtlMs: number;
  private readonly timeoutMs: number;
  private readonly onError: (error: Error) => void;
  /** The app's AMQP broker's table (`attachBroker`); none when the backend stands alone. */
  private routes: ReplyRoutes | undefined;

  constructor(
    private readonly url: string,
    private readonly options: RpcBackendOptions = {},
  ) {
    this.resultTtlMs = options.resultExpiresMs ?? 86_400_000;
    this.timeoutMs = options.publishTimeoutMs ?? 30_000;
    this.onError = options.onError ?? (() => undefined);
    this.cache = new ResultCache(this.onError);
  }

  /** Learns the URL and the reply queues of the app's broker, when it is an AMQP broker. */
  attachBroker(broker: Broker): void {
    this.routes = replyRoutesOf(broker);
  }

  async connect(): Promise<void> {
    this.connecting ??= this.open();
    try {
      await this.connecting;
    } catch (error) {
      this.connecting = undefined;
      throw error;
    }
  }

  async store(meta: ResultMeta, options: RpcStoreOptions = {}): Promise<void> {
    await this.connect();
    const route =
      options.replyTo !== undefined
        ? { replyTo: options.replyTo, correlationId: options.correlationId ?? meta.task_id }
        : this.routes?.publishedRoute(meta.task_id);
    if (!route) {
      // No caller to send to: the task came from nowhere this process saw. Keep it here.
      this.cache.put(meta, options.expiresMs ?? this.resultTtlMs);
      return;
    }
    const publication = {
      exchange: '',
      routingKey: route.replyTo,
      content: encodeRpcResult(meta),
      options: rpcResultProperties(route.correlationId),
      prepare: () =>
        this.declared.get(route.replyTo) === this.connection!.epoch
          ? undefined
          : this.declareReplyQueue(route.replyTo),
    };
    try {
      await this.publisher!.publish(publication);
    } catch (error) {
      if (!(error instanceof UnroutableError)) throw error;
      // The reply queue went away since we declared it (auto-delete: its reader dropped
      // its connection). Declare it again so the result waits for the reader's return.
      this.declared.delete(route.replyTo);
      await this.publisher!.publish(publication);
    }
  }

  async get(taskId: string): Promise<ResultMeta | undefined> {
    await this.connect();
    await this.listenFor(taskId);
    return this.cache.get(taskId);
  }

  async subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    await this.connect();
    const unsubscribe = this.cache.subscribe(taskId, listener);
    await this.listenFor(taskId);
    return () => Promise.resolve(unsubscribe());
  }

  async forget(taskIds: string[]): Promise<void> {
    await this.connect();
    for (const id of taskIds) this.cache.delete(id);
  }

  async revoke(taskIds: string[], options: { terminate?: boolean } = {}): Promise<void> {
    await this.connect();
    await this.revocations!.revoke(taskIds, options.terminate ?? false);
  }

  /** Revokes reach this backend only as broadcasts it keeps in memory: known without I/O once connected. */
  isRevoked(taskId: string): boolean | Promise<boolean> {
    if (this.revocations) return this.revocations.isRevoked(taskId);
    return this.connect().then(() => this.revocations!.isRevoked(taskId));
  }

  async onRevoke(listener: (taskId: string, terminate: boolean) => void): Promise<Unsubscribe> {
    await this.connect();
    return this.revocations!.onRevoke(listener);
  }

  async close(): Promise<void> {
    this.revocations?.close();
    await this.publisher?.close();
    await this.connection?.close();
    this.connecting = undefined;
  }

  private async open(): Promise<void> {
    const url = this.amqpUrl();
    const connection = new AmqpConnection({
      target: parseAmqpUrl(url, 30),
      socketOptions: {},
      redactedUrl: redact(url),
      connectionName: this.options.connectionName ?? `celeriac rpc ${process.pid}`,
      reconnectInitialMs: 100,
      reconnectMaxMs: 5000,
      onError: this.onError,
    });
    await connection.start(this.timeoutMs);
    this.connection = connection;
    this.publisher = new ConfirmPublisher(connection, this.timeoutMs, 'Sending a result');
    this.revocations = new Revocations(connection, this.publisher, this.timeoutMs, this.onError);
    connection.onSetup(async () => {
      // A new connection: consume every reply queue again (RabbitMQ kept their messages).
      for (const queue of [...this.listening.keys()]) {
        this.listening.delete(queue);
        await this.listen(queue).catch((error: Error) => this.onError(error));
      }
    });
    if (this.options.oid) await this.listen(this.options.oid);
  }

  private amqpUrl(): string {
    const explicit = this.options.brokerUrl ?? this.url.replace(/^rpc:\/\//i, 'amqp://');
    if (/^amqps?:\/\/[^/?#]+/i.test(explicit)) return explicit;
    const fromBroker = this.routes?.brokerUrl ?? process.env.CELERIAC_BROKER_URL;
    if (fromBroker && /^amqps?:/i.test(fromBroker)) return fromBroker;
    throw new CeleriacError(
      'rpc:// sends results through RabbitMQ but no AMQP broker is known: use an amqp:// broker in this app, ' +
        'set CELERIAC_BROKER_URL, or write the server into the URL (rpc://user:pass@host:5672/vhost).',
    );
  }

  /** Starts reading the reply queue this process's message for `taskId` named, if any. */
  private async listenFor(taskId: string): Promise<void> {
    const route = this.routes?.publishedRoute(taskId);
    if (route) await this.listen(route.replyTo);
  }

  private listen(queue: string): Promise<void> {
    let pending = this.listening.get(queue);
    if (!pending) {
      pending = this.consumeReplies(queue).catch((error: unknown) => {
        this.listening.delete(queue);
        throw error;
      });
      this.listening.set(queue, pending);
    }
    return pending;
  }

  /** Consumes a reply queue (no ack, as Celery) and waits for the results already in it. */
  private async consumeReplies(queue: string): Promise<void> {
    const connection = await this.connection!.ready(this.timeoutMs, 'Reading results');
    const channel = await connection.createChannel();
    channel.on('error', (error: Error) => this.onError(error));
    const { messageCount } = await channel.assertQueue(queue, replyQueueOptions());
    let received = 0;
    let backlogDone: () => void = () => undefined;
    const backlog = new Promise<void>((resolve) => (backlogDone = resolve));
    if (messageCount === 0) backlogDone();
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        this.onResult(message);
        received += 1;
        if (received >= messageCount) backlogDone();
      },
      { noAck: true },
    );
    await Promise.race([backlog, new Promise((resolve) => setTimeout(resolve, BACKLOG_WAIT_MS))]);
  }

  private onResult(message: Amqplib.ConsumeMessage): void {
    try {
      this.cache.put(decodeRpcResult(message.content), this.resultTtlMs);
    } catch (error) {
      this.onError(error as Error);
    }
  }

  private async declareReplyQueue(queue: string): Promise<void> {
    const connection = await this.connection!.ready(this.timeoutMs, 'Declaring a reply queue');
    const epoch = this.connection!.epoch;
    const channel = await connection.createChannel();
    try {
      await channel.assertQueue(queue, replyQueueOptions());
    } finally {
      await channel.close().catch(() => undefined);
    }
    this.declared.set(queue, epoch);
    if (this.declared.size > 10_000) this.declared.clear();
  }
}

/** The registry's factory for `rpc://` URLs. */
export function createRpcBackend(url: string, options: RpcBackendOptions = {}): RpcBackend {
  return new RpcBackend(url, options);
}

/** A fresh reply-queue name, for callers that manage their own (Celery: the app's oid). */
export function newOid(): string {
  return randomUUID();
}
