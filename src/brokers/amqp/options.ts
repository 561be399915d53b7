/**
 * The AMQP broker's options and their defaults, some read from the URL's query (the URL
 * itself is read in connections/amqp/amqp-url.ts, shared with rpc://). Pure: no I/O.
 */
import type { BrokerFactoryOptions } from '../registry.js';
import type * as Amqplib from 'amqplib';
import { InvalidAmqpOptionsError, parseAmqpUrl, redact } from '../../connections/amqp/amqp-url.js';

export { InvalidAmqpOptionsError, parseAmqpUrl, redact };

export interface AmqpBrokerOptions extends BrokerFactoryOptions {
  /**
   * Type of the work queues. `quorum` adds `x-queue-type: quorum`, as Celery 5.5's
   * `task_default_queue_type='quorum'` does; both sides must agree or RabbitMQ refuses the
   * declaration. @default 'classic' (Celery's default)
   */
  queueType?: 'classic' | 'quorum' | undefined;
  /**
   * Type of each queue's exchange (named after the queue, as Celery names it).
   * @default 'direct' (Celery's default; Celery 5.5 quorum setups use 'topic')
   */
  exchangeType?: 'direct' | 'topic' | undefined;
  /**
   * Declares work queues with `x-max-priority` so priorities are served (Celery's
   * `task_queue_max_priority`). Classic queues only. @example maxPriority: 10
   */
  maxPriority?: number | undefined;
  /**
   * Dead-letter rejected messages: declares the direct exchange `celeriac.dead-letter` and,
   * per work queue `q`, a queue `q.dead-letter`; work queues get `x-dead-letter-exchange`
   * so RabbitMQ's own dead letters (expired, rejected by Python workers) land there too.
   * Python Celery must then declare the queues with the same `queue_arguments`.
   * @default false
   */
  deadLetter?: boolean | undefined;
  /**
   * Hold delayed messages (countdown, ETA, retries) in RabbitMQ with Celery 5.5's native
   * delayed delivery topology (`celery_delayed_0..27`), never in a worker.
   * @default true
   */
  delayedDelivery?: boolean | undefined;
  /**
   * Queue type of the `celery_delayed_*` levels. `quorum` (Celery's choice) moves messages
   * between levels at least once and needs RabbitMQ 3.10+; `classic` works on older servers
   * but RabbitMQ may drop a message if it fails while moving it. @default 'quorum'
   */
  delayedQueueType?: 'quorum' | 'classic' | undefined;
  /**
   * Declare the reply queue a published message names in `reply_to` (the app's oid) before
   * publishing it, as Celery's rpc:// client does, so rpc:// results sent back before the
   * caller starts reading are kept. Costs one declaration per process; the queue is
   * auto-deleted after use, or after a day unused. Turn off when no rpc:// backend is used
   * to avoid those idle queues. @default true
   */
  declareReplyQueues?: boolean | undefined;
  /** Shown in RabbitMQ's management UI and `rabbitmqctl list_connections`. @default 'celeriac <pid>' */
  connectionName?: string | undefined;
  /** AMQP heartbeat in seconds: how soon a dead connection is noticed. 0 disables. @default 30 */
  heartbeatSeconds?: number | undefined;
  /** How long `connect()` keeps trying before it fails. @default 15000 */
  connectTimeoutMs?: number | undefined;
  /**
   * How long a publish may wait, during an outage, for the connection to come back and the
   * broker to confirm, before it fails with BrokerConnectionError. @default 30000
   */
  publishTimeoutMs?: number | undefined;
  /** Reconnect backoff: first delay and cap, in ms (with jitter). @default { initial: 100, max: 5000 } */
  reconnectDelayMs?: { initial?: number | undefined; max?: number };
  /** TLS and socket options passed to amqplib (`ca`, `cert`, `key`, `servername`, ...). */
  socketOptions?: Amqplib.SocketOptions | undefined;
  /** Told about connection losses and other errors the broker recovers from on its own. */
  onError?: (error: Error) => void;
}

export interface ResolvedAmqpOptions {
  target: Amqplib.Options.Connect;
  redactedUrl: string;
  keyPrefix: string;
  queueType: 'classic' | 'quorum';
  exchangeType: 'direct' | 'topic';
  maxPriority: number | undefined;
  deadLetter: boolean;
  delayedDelivery: boolean;
  delayedQueueType: 'quorum' | 'classic';
  declareReplyQueues: boolean;
  connectionName: string;
  connectTimeoutMs: number;
  publishTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  socketOptions: Amqplib.SocketOptions;
  onError: (error: Error) => void;
}

/**
 * Options written in the URL's query (`amqp://host//?deadLetter=true&maxPriority=10`), so
 * the CLI and `CELERIAC_BROKER_URL` reach them. Options passed in code win.
 */
export function optionsFromUrl(url: string): AmqpBrokerOptions {
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return {};
  }
  const out: AmqpBrokerOptions = {};
  const text = (key: string) => query.get(key) ?? undefined;
  const flag = (key: string) => {
    const value = text(key);
    if (value === undefined) return undefined;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    throw new InvalidAmqpOptionsError(`URL option ${key}=${value} must be true or false.`);
  };
  const number = (key: string) => {
    const value = text(key);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed))
      throw new InvalidAmqpOptionsError(`URL option ${key}=${value} must be a number.`);
    return parsed;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidAmqpOptionsError(
        `URL option ${key}=${value} must be one of ${allowed.join(', ')}.`,
      );
    }
    return value as T;
  };
  const set = <K extends keyof AmqpBrokerOptions>(
    key: K,
    value: AmqpBrokerOptions[K] | undefined,
  ) => {
    if (value !== undefined) out[key] = value;
  };
  set('keyPrefix', text('keyPrefix'));
  set('queueType', oneOf('queueType', ['classic', 'quorum'] as const));
  set('exchangeType', oneOf('exchangeType', ['direct', 'topic'] as const));
  set('maxPriority', number('maxPriority'));
  set('deadLetter', flag('deadLetter'));
  set('delayedDelivery', flag('delayedDelivery'));
  set('delayedQueueType', oneOf('delayedQueueType', ['quorum', 'classic'] as const));
  set('declareReplyQueues', flag('declareReplyQueues'));
  set('connectionName', text('connectionName'));
  set('publishTimeoutMs', number('publishTimeoutMs'));
  set('connectTimeoutMs', number('connectTimeoutMs'));
  return out;
}

export function resolveAmqpOptions(url: string, given: AmqpBrokerOptions): ResolvedAmqpOptions {
  const options: AmqpBrokerOptions = { ...optionsFromUrl(url) };
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  const queueType = options.queueType ?? 'classic';
  if (options.maxPriority !== undefined) {
    if (
      !Number.isInteger(options.maxPriority) ||
      options.maxPriority < 1 ||
      options.maxPriority > 255
    ) {
      throw new InvalidAmqpOptionsError(
        `maxPriority must be an integer from 1 to 255, not ${options.maxPriority}.`,
      );
    }
    if (queueType === 'quorum') {
      throw new InvalidAmqpOptionsError(
        'maxPriority needs classic queues: RabbitMQ quorum queues do not take x-max-priority. Drop one of the two options.',
      );
    }
  }
  return {
    target: parseAmqpUrl(url, options.heartbeatSeconds ?? 30),
    redactedUrl: redact(url),
    keyPrefix: options.keyPrefix ?? '',
    queueType,
    exchangeType: options.exchangeType ?? 'direct',
    maxPriority: options.maxPriority,
    deadLetter: options.deadLetter ?? false,
    delayedDelivery: options.delayedDelivery ?? true,
    delayedQueueType: options.delayedQueueType ?? 'quorum',
    declareReplyQueues: options.declareReplyQueues ?? true,
    connectionName: options.connectionName ?? `celeriac ${process.pid}`,
    connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
    publishTimeoutMs: options.publishTimeoutMs ?? 30_000,
    reconnectInitialMs: options.reconnectDelayMs?.initial ?? 100,
    reconnectMaxMs: options.reconnectDelayMs?.max ?? 5000,
    socketOptions: options.socketOptions ?? {},
    onError: options.onError ?? (() => undefined),
  };
}
