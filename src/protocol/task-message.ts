/**
 * Celery task messages, both ways. `encodeTaskMessage` writes what Celery 5.6 writes for
 * `apply_async` (protocol v2 headers, properties and `[args, kwargs, embed]` body, byte
 * for byte); `decodeTaskMessage` (task-message-decode.ts, re-exported here) reads them.
 * Pure: no I/O; it must never write anything but JSON bodies.
 */
import { brotliCompressSync, deflateSync } from 'node:zlib';
import { toPythonJson, type WideJsonValue } from './json.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { formatCeleryDate, parseCeleryDate } from './time.js';
import { JSON_CONTENT_TYPE, UTF8_CONTENT_ENCODING } from './task-message-decode.js';
import type {
  JsonObject,
  JsonValue,
  MessageProperties,
  SignatureJson,
  TransportMessage,
} from './types.js';

// Reading lives apart (task-message-decode.ts); this module stays the one place to import from.
export {
  DEFAULT_MAX_BODY_BYTES,
  JSON_CONTENT_TYPE,
  UTF8_CONTENT_ENCODING,
  decodeTaskMessage,
  type DecodeOptions,
  type DecodedTaskMessage,
} from './task-message-decode.js';

/** kombu's compression names and the content types it writes in the `compression` header. */
const COMPRESSION_TYPES = {
  gzip: 'application/x-gzip',
  zlib: 'application/x-gzip',
  'application/x-gzip': 'application/x-gzip',
  brotli: 'application/x-brotli',
  'application/x-brotli': 'application/x-brotli',
} as const;

export type CompressionName = keyof typeof COMPRESSION_TYPES;

/** Everything `apply_async` can put in a message. Optional fields default as Celery does. */
export interface TaskMessageSpec {
  /** Registered task name, e.g. `emails.send`. */
  task: string;
  /** Task id (a UUID by convention); also the `correlation_id` property. */
  id: string;
  args: readonly WideJsonValue[];
  kwargs: JsonObject | { [key: string]: WideJsonValue };
  /** Earliest start. A string is written verbatim (Celery does so on retries). Default null. */
  eta?: Date | string | null | undefined;
  /** Seconds from `now` until the earliest start; used only when `eta` is not given. */
  countdown?: number | null | undefined;
  /**
   * When the task expires: a Date, an ISO string (written verbatim) or seconds from `now`.
   * Also sets the `expiration` property (milliseconds left, as a string), as Celery does.
   */
  expires?: Date | string | number | null | undefined;
  /** The clock for `countdown`, numeric `expires` and `expiration`. Default: the current time. */
  now?: Date | number | undefined;
  /** Default 0. */
  retries?: number | undefined;
  /** Hard time limit in seconds. Default null. */
  timeLimit?: number | null | undefined;
  /** Soft time limit in seconds. Default null. */
  softTimeLimit?: number | null | undefined;
  /** Default: the task's own id, as Celery does for a root task. */
  rootId?: string | null | undefined;
  parentId?: string | null | undefined;
  groupId?: string | null | undefined;
  groupIndex?: number | null | undefined;
  /** A different name to show in logs and monitors. */
  shadow?: string | null | undefined;
  /** `<name>@<host>` of the sender; Celery writes `gen<pid>@<hostname>`. */
  origin: string;
  ignoreResult?: boolean | undefined;
  callbacks?: SignatureJson[] | null | undefined;
  errbacks?: SignatureJson[] | null | undefined;
  /** Remaining chain, stored reversed: the next task is the last item. */
  chain?: SignatureJson[] | null | undefined;
  chord?: SignatureJson | null | undefined;
  /** The client's reply queue (Celery's `thread_oid`). Default ''. */
  replyTo?: string | undefined;
  /** 0..255 on AMQP, 0..9 on Redis. Default 0. */
  priority?: number | undefined;
  /** 2 = persistent (default), 1 = transient. */
  deliveryMode?: 1 | 2 | undefined;
  /** User headers, merged flat into the task headers as Celery does (`headers=`). */
  headers?: Record<string, JsonValue | undefined> | undefined;
  /** Default '' (the AMQP default exchange: routing key = queue). */
  exchange?: string | undefined;
  /** Default 'celery'. */
  routingKey?: string | undefined;
  /** Override the computed `argsrepr` (e.g. to hide secrets). Default: Celery's saferepr of the args tuple. */
  argsrepr?: string | undefined;
  /** Override the computed `kwargsrepr`. */
  kwargsrepr?: string | undefined;
  /** Stamps (Celery 5.3+ stamping): written to `stamps`, their names to `stamped_headers`. */
  stamps?: JsonObject | undefined;
  /** Default 0. */
  replacedTaskNesting?: number | undefined;
  /** Compress the body as kombu does: `gzip` (zlib stream, as kombu writes it) or `brotli`. */
  compression?: CompressionName | null | undefined;
  /** Extra message properties, written after `reply_to` as kombu does with `**properties`. */
  properties?: Record<string, JsonValue> | undefined;
}

/**
 * Build the message Celery 5.6 would publish for this call.
 * @throws TypeError when the spec itself is invalid (a programming error, not bad input).
 */
export function encodeTaskMessage(spec: TaskMessageSpec): TransportMessage {
  if (typeof spec.task !== 'string' || spec.task === '')
    throw new TypeError('encodeTaskMessage: task must be a non-empty string');
  if (typeof spec.id !== 'string' || spec.id === '')
    throw new TypeError('encodeTaskMessage: id must be a non-empty string');
  if (!Array.isArray(spec.args)) throw new TypeError('encodeTaskMessage: args must be an array');
  if (typeof spec.kwargs !== 'object' || spec.kwargs === null || Array.isArray(spec.kwargs)) {
    throw new TypeError('encodeTaskMessage: kwargs must be a plain object');
  }
  const retries = spec.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0)
    throw new TypeError('encodeTaskMessage: retries must be a non-negative integer');
  const nowMs =
    spec.now === undefined
      ? Date.now()
      : typeof spec.now === 'number'
        ? spec.now
        : spec.now.getTime();

  let eta: string | null = null;
  if (spec.eta !== undefined && spec.eta !== null) eta = dateHeader(spec.eta, 'eta');
  else if (spec.countdown) eta = formatCeleryDate(new Date(nowMs + spec.countdown * 1000));

  let expires: string | null = null;
  let expiresInMs: number | null = null;
  if (spec.expires !== undefined && spec.expires !== null) {
    if (typeof spec.expires === 'number') {
      if (!Number.isFinite(spec.expires))
        throw new TypeError('encodeTaskMessage: expires must be a finite number of seconds');
      expires = formatCeleryDate(new Date(nowMs + spec.expires * 1000));
      // The same float steps as Celery's str(int(expires_s * 1000)).
      expiresInMs = Math.trunc(spec.expires * 1000);
    } else {
      expires = dateHeader(spec.expires, 'expires');
      const at = typeof spec.expires === 'string' ? parseCeleryDate(spec.expires) : spec.expires;
      expiresInMs = at.getTime() - nowMs;
    }
  }

  const stamps = spec.stamps ?? {};
  const stampNames = Object.keys(stamps);
  const headers: Record<string, JsonValue | undefined> = {
    lang: 'py',
    task: spec.task,
    id: spec.id,
    shadow: spec.shadow ?? null,
    eta,
    expires,
    group: spec.groupId ?? null,
    group_index: spec.groupIndex ?? null,
    retries,
    timelimit: [spec.timeLimit ?? null, spec.softTimeLimit ?? null],
    root_id: spec.rootId || spec.id,
    parent_id: spec.parentId ?? null,
    argsrepr: spec.argsrepr ?? argsRepr(spec.args),
    kwargsrepr: spec.kwargsrepr ?? kwargsRepr(spec.kwargs),
    origin: spec.origin,
    ignore_result: spec.ignoreResult ?? false,
    replaced_task_nesting: spec.replacedTaskNesting ?? 0,
    stamped_headers: stampNames.length > 0 ? stampNames : null,
    stamps,
  };
  if (spec.headers) {
    for (const key of Object.keys(spec.headers)) {
      const value = spec.headers[key];
      if (value !== undefined) headers[key] = value;
    }
  }

  const properties: MessageProperties = { correlation_id: spec.id, reply_to: spec.replyTo ?? '' };
  if (spec.properties) Object.assign(properties, spec.properties);
  properties.delivery_mode = spec.deliveryMode ?? 2;
  if (expiresInMs !== null) {
    // Celery clamps a past expiry to 0: RabbitMQ then drops it unless a consumer is waiting.
    properties.expiration = String(Math.max(0, expiresInMs));
  }
  properties.delivery_info = {
    exchange: spec.exchange ?? '',
    routing_key: spec.routingKey ?? 'celery',
  };
  properties.priority = spec.priority ?? 0;

  const embed = {
    callbacks: spec.callbacks ?? null,
    errbacks: spec.errbacks ?? null,
    chain: spec.chain ?? null,
    chord: spec.chord ?? null,
  };
  let body = Buffer.from(toPythonJson([spec.args as WideJsonValue[], spec.kwargs, embed]), 'utf8');
  if (spec.compression) {
    const type = COMPRESSION_TYPES[spec.compression];
    body = type === 'application/x-brotli' ? brotliCompressSync(body) : deflateSync(body);
    headers.compression = type;
  }
  return {
    body,
    contentType: JSON_CONTENT_TYPE,
    contentEncoding: UTF8_CONTENT_ENCODING,
    headers,
    properties,
  };
}

function dateHeader(value: Date | string, what: string): string {
  if (typeof value === 'string') {
    try {
      parseCeleryDate(value);
    } catch {
      throw new TypeError(
        `encodeTaskMessage: ${what} is not an ISO 8601 datetime: ${JSON.stringify(value)}`,
      );
    }
    return value;
  }
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw new TypeError(`encodeTaskMessage: ${what} is not a valid Date`);
  return formatCeleryDate(value);
}
