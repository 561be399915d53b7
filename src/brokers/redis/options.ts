/**
 * The Redis broker's settings: what `createRedisBroker(url, options)` accepts, read from
 * the options first and the URL's query second, with their defaults in one place.
 * Must never open a connection: this is pure configuration.
 */
import type { BrokerFactoryOptions } from '../registry.js';
import { CeleriacError } from '../../errors.js';
import type { RedisUrlConfig } from '../../connections/redis/connection.js';

export interface RedisBrokerOptions extends BrokerFactoryOptions {
  /**
   * Prefix for every key, kombu's `global_keyprefix`: Celery shares the queues only when it
   * uses the same (`broker_transport_options={'global_keyprefix': ...}`). Also `?keyPrefix=`.
   * @default ''
   */
  keyPrefix?: string | undefined;
  /**
   * How long a delivery stays ours without a heartbeat; a consumer killed with `kill -9`
   * has its messages restored this long after its last heartbeat. @default 30 000
   */
  leaseMs?: number | undefined;
  /** How often a live consumer renews its leases. @default leaseMs / 3 */
  heartbeatMs?: number | undefined;
  /**
   * kombu's `visibility_timeout` (ms), applied only to deliveries held by non-Celeriac
   * clients (Celery workers), which renew nothing. Also `?visibilityTimeout=<seconds>`.
   * @default 3 600 000 (Celery's default, one hour)
   */
  visibilityTimeoutMs?: number | undefined;
  /** How often a consumer runs the restore pass. @default min(leaseMs / 2, 10 000) */
  restoreIntervalMs?: number | undefined;
  /** How long a publish waits for Redis to come back before rejecting. @default 10 000 */
  publishTimeoutMs?: number | undefined;
  /** Longest wait before a consumer looks for due delayed messages published elsewhere. @default 1 000 */
  delayedPollMs?: number | undefined;
  /**
   * Where `publish({ deliverAt })` puts a message: `'zset'` holds it in `celeriac.delayed`
   * until due (a Celeriac consumer promotes it); `'queue'` pushes it at once and leaves its
   * `eta` header to the worker, as Celery does, for queues only Celery workers consume.
   * Also `?delayMode=`. @default 'zset'
   */
  delayMode?: 'zset' | 'queue' | undefined;
  /**
   * The largest kombu envelope (the whole message as stored in Redis, body in base64) this
   * broker sends or takes, in bytes. A bigger one found in a queue is moved to its dead
   * letters by the claim itself, never parsed; a bigger publish is refused with
   * MessageTooLargeError. Set the same on senders and workers. Also `?maxEnvelopeBytes=`.
   * @default 16 777 216 (16 MiB, RabbitMQ 4's default `max_message_size`)
   */
  maxEnvelopeBytes?: number | undefined;
}

/** 16 MiB: a task message is meant to carry references to big data, not the data. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

export interface RedisBrokerSettings {
  keyPrefix: string;
  leaseMs: number;
  heartbeatMs: number;
  visibilityTimeoutMs: number;
  restoreIntervalMs: number;
  publishTimeoutMs: number;
  delayedPollMs: number;
  delayMode: 'zset' | 'queue';
  maxEnvelopeBytes: number;
}

function numberParam(config: RedisUrlConfig, name: string, scale = 1): number | undefined {
  const text = config.params.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new CeleriacError(`The Redis URL parameter ${name}=${text} must be a positive number.`);
  }
  return value * scale;
}

function positive(
  name: string,
  value: number | undefined,
  unit = 'milliseconds',
): number | undefined {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
    throw new CeleriacError(
      `The Redis broker option ${name} must be a positive number of ${unit}, not ${value}.`,
    );
  }
  return value;
}

export function resolveBrokerSettings(
  config: RedisUrlConfig,
  options: RedisBrokerOptions,
): RedisBrokerSettings {
  const leaseMs = positive('leaseMs', options.leaseMs) ?? numberParam(config, 'leaseMs') ?? 30_000;
  const heartbeatMs =
    positive('heartbeatMs', options.heartbeatMs) ?? Math.max(50, Math.floor(leaseMs / 3));
  if (heartbeatMs >= leaseMs) {
    throw new CeleriacError(
      `heartbeatMs (${heartbeatMs}) must be shorter than leaseMs (${leaseMs}), or leases lapse between beats.`,
    );
  }
  const delayMode = options.delayMode ?? config.params.get('delayMode') ?? 'zset';
  if (delayMode !== 'zset' && delayMode !== 'queue') {
    throw new CeleriacError(`delayMode must be 'zset' or 'queue', not "${delayMode}".`);
  }
  return {
    keyPrefix: options.keyPrefix ?? config.keyPrefix ?? '',
    leaseMs,
    heartbeatMs,
    visibilityTimeoutMs:
      positive('visibilityTimeoutMs', options.visibilityTimeoutMs) ??
      numberParam(config, 'visibilityTimeout', 1000) ??
      3_600_000,
    restoreIntervalMs:
      positive('restoreIntervalMs', options.restoreIntervalMs) ??
      Math.min(Math.floor(leaseMs / 2), 10_000),
    publishTimeoutMs:
      positive('publishTimeoutMs', options.publishTimeoutMs) ??
      numberParam(config, 'publishTimeoutMs') ??
      10_000,
    delayedPollMs: positive('delayedPollMs', options.delayedPollMs) ?? 1_000,
    delayMode,
    maxEnvelopeBytes: wholeBytes(
      positive('maxEnvelopeBytes', options.maxEnvelopeBytes, 'bytes') ??
        numberParam(config, 'maxEnvelopeBytes') ??
        DEFAULT_MAX_ENVELOPE_BYTES,
    ),
  };
}

function wholeBytes(value: number): number {
  if (!Number.isInteger(value))
    throw new CeleriacError(`maxEnvelopeBytes must be a whole number of bytes, not ${value}.`);
  return value;
}
