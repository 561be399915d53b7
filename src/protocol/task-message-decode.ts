/**
 * Reading Celery task messages: Celery 5.2 to 5.6 headers, compressed bodies and protocol v1
 * bodies, normalised into a DecodedTaskMessage; anything else is rejected with one precise
 * reason. Pure: no I/O, and nothing in a message is ever evaluated; only JSON is accepted.
 */
import { brotliDecompressSync, inflateSync } from 'node:zlib';
import { MalformedMessageError, UnsupportedContentTypeError, excerpt } from './errors.js';
import { isJsonObject, parseCeleryJson } from './json.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { parseCeleryDate } from './time.js';
import type {
  JsonObject,
  JsonValue,
  MessageProperties,
  SignatureJson,
  TaskEmbed,
  TaskHeaders,
  TransportMessage,
} from './types.js';

export const JSON_CONTENT_TYPE = 'application/json';
export const UTF8_CONTENT_ENCODING = 'utf-8';

/** A task message as read, normalised; `headers` keeps unknown keys (stamps, custom). */
export interface DecodedTaskMessage {
  /** 2 for `[args, kwargs, embed]` bodies with task headers, 1 for the old dict bodies. */
  protocol: 1 | 2;
  name: string;
  id: string;
  args: JsonValue[];
  kwargs: JsonObject;
  embed: TaskEmbed;
  headers: TaskHeaders;
  properties: MessageProperties;
  eta: Date | null;
  expires: Date | null;
  retries: number;
  timeLimit: number | null;
  softTimeLimit: number | null;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  shadow: string | null;
  origin: string | null;
  ignoreResult: boolean;
  /** `reply_to` property; null when absent or empty. */
  replyTo: string | null;
  correlationId: string | null;
}

export interface DecodeOptions {
  /** Largest body accepted after decompression, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Read a task message as Celery 5.2 to 5.6 (and protocol v1 senders) write it.
 *
 * Values come back as JSON.parse gives them: integers past 2^53 are rounded (use
 * `parseCeleryJson(text, { bigint: true })` on the body to keep them), kombu's tagged
 * datetimes/dates/UUIDs/decimals become strings. Naive datetimes are UTC, even from a v1
 * sender with `utc: false` (Celery itself has run with enable_utc since 4.0).
 * @throws UnsupportedContentTypeError for anything but JSON (pickle is never deserialized).
 * @throws MalformedMessageError with a one-line reason for anything that is not a valid task.
 */
export function decodeTaskMessage(
  message: TransportMessage,
  options: DecodeOptions = {},
): DecodedTaskMessage {
  const rawHeaders: Record<string, unknown> = isRecord(message.headers) ? message.headers : {};
  const progress: Progress = { headers: null };
  try {
    return readTaskMessage(message, rawHeaders, options, progress);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    throw new MalformedMessageError(
      error.reason,
      problemContext(rawHeaders, progress.headers),
      error.underlying === undefined ? undefined : { cause: error.underlying },
    );
  }
}

/**
 * Why a message was refused, thrown by the readers below and turned into a
 * MalformedMessageError at the top, which alone knows the task's id and name. This keeps the
 * success path free of the per-call closures and context objects a `fail` callback needs.
 */
class Problem extends Error {
  constructor(
    readonly reason: string,
    /** The error behind the reason, if any; becomes the MalformedMessageError's `cause`. */
    readonly underlying?: unknown,
  ) {
    super(reason);
  }
}

function fail(reason: string, cause?: unknown): never {
  throw new Problem(reason, cause);
}

/** How far reading got: `headers` is set once the task headers are known (v1 bodies carry them). */
interface Progress {
  headers: Record<string, unknown> | null;
}

/** The task named in an error: from the task headers once read, else from the raw headers. */
function problemContext(
  rawHeaders: Record<string, unknown>,
  headers: Record<string, unknown> | null,
): { taskId: string | null; taskName: string | null } {
  const name = headers?.task;
  const id = headers?.id;
  return {
    taskId:
      typeof id === 'string' && id !== ''
        ? id
        : typeof rawHeaders.id === 'string'
          ? rawHeaders.id
          : null,
    taskName:
      typeof name === 'string' && name !== ''
        ? name
        : typeof rawHeaders.task === 'string'
          ? rawHeaders.task
          : null,
  };
}

function readTaskMessage(
  message: TransportMessage,
  rawHeaders: Record<string, unknown>,
  options: DecodeOptions,
  progress: Progress,
): DecodedTaskMessage {
  if (message.headers !== undefined && message.headers !== null && !isRecord(message.headers))
    fail('headers are not an object');

  const contentType = mediaType(typeof message.contentType === 'string' ? message.contentType : '');
  if (contentType !== JSON_CONTENT_TYPE && contentType !== 'application/x-json') {
    throw new UnsupportedContentTypeError(
      typeof message.contentType === 'string' ? message.contentType : '',
    );
  }
  // The usual exact "utf-8" skips toLowerCase, as `mediaType` skips split/trim: ~0.2 µs a message.
  const encoding =
    message.contentEncoding === UTF8_CONTENT_ENCODING
      ? UTF8_CONTENT_ENCODING
      : (message.contentEncoding ?? '').toLowerCase();
  if (encoding !== '' && encoding !== 'utf-8' && encoding !== 'utf8') {
    fail(
      `content encoding ${JSON.stringify(message.contentEncoding)} is not supported (JSON bodies are utf-8)`,
    );
  }
  if (!Buffer.isBuffer(message.body)) fail('body is not a byte buffer');

  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let bytes: Buffer = message.body;
  const compression = rawHeaders.compression;
  if (compression !== undefined && compression !== null) {
    bytes = decompress(bytes, compression, limit);
  }
  if (bytes.length > limit) fail(`body is ${bytes.length} bytes, over the ${limit}-byte limit`);
  const body = readBody(bytes);

  let protocol: 1 | 2;
  let args: JsonValue;
  let kwargs: JsonValue;
  let embedValue: JsonValue;
  let headerSource: Record<string, unknown>;
  if ('task' in rawHeaders || Array.isArray(body)) {
    protocol = 2;
    if (!Array.isArray(body))
      return fail(`protocol 2 body must be [args, kwargs, embed], got ${describe(body)}`);
    if (body.length !== 3)
      return fail(
        `protocol 2 body must be [args, kwargs, embed], got a list of ${body.length} items`,
      );
    args = body[0] as JsonValue;
    kwargs = body[1] as JsonValue;
    embedValue = body[2] as JsonValue;
    headerSource = rawHeaders;
  } else {
    protocol = 1;
    if (!isJsonObject(body))
      return fail(`body must be a protocol 1 dict or a protocol 2 list, got ${describe(body)}`);
    args = body.args ?? [];
    kwargs = body.kwargs ?? {};
    embedValue = {
      callbacks: body.callbacks ?? null,
      errbacks: body.errbacks ?? null,
      chain: null,
      chord: body.chord ?? null,
    };
    headerSource = protocol1Headers(body, rawHeaders);
  }

  progress.headers = headerSource;
  const name = headerSource.task;
  const id = headerSource.id;
  if (typeof name !== 'string' || name === '')
    fail(
      name === undefined || name === null
        ? 'no task name'
        : `task name must be a non-empty string, got ${describe(name as JsonValue)}`,
    );
  if (typeof id !== 'string' || id === '')
    fail(
      id === undefined || id === null
        ? 'no task id'
        : `task id must be a non-empty string, got ${describe(id as JsonValue)}`,
    );
  if (!Array.isArray(args)) fail(`args must be a list, got ${describe(args)}`);
  if (!isJsonObject(kwargs)) fail(`kwargs must be an object, got ${describe(kwargs)}`);
  const embed = readEmbed(embedValue);

  const eta = optionalDate(headerSource.eta, 'eta');
  const expires = optionalDate(headerSource.expires, 'expires');
  const retries = headerSource.retries ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0)
    fail(`retries must be a non-negative integer, got ${describe(retries as JsonValue)}`);
  const timeLimits = readTimeLimit(headerSource.timelimit);
  const rootId = optionalString(headerSource.root_id, 'root_id');
  const parentId = optionalString(headerSource.parent_id, 'parent_id');
  const groupId = optionalString(headerSource.group, 'group');
  const shadow = optionalString(headerSource.shadow, 'shadow');
  const origin = optionalString(headerSource.origin, 'origin');
  const groupIndex = headerSource.group_index ?? null;
  if (
    groupIndex !== null &&
    (typeof groupIndex !== 'number' || !Number.isInteger(groupIndex) || groupIndex < 0)
  ) {
    fail(
      `group_index must be a non-negative integer or null, got ${describe(groupIndex as JsonValue)}`,
    );
  }
  const ignoreResult = headerSource.ignore_result ?? false;
  if (typeof ignoreResult !== 'boolean')
    fail(`ignore_result must be true or false, got ${describe(ignoreResult as JsonValue)}`);

  // Normalised headers: the sender's keys in the sender's order, with checked values.
  const headers = { ...headerSource } as TaskHeaders;
  headers.lang = typeof headerSource.lang === 'string' ? headerSource.lang : 'py';
  headers.task = name;
  headers.id = id;
  headers.shadow = shadow;
  headers.eta = typeof headerSource.eta === 'string' ? headerSource.eta : null;
  headers.expires = typeof headerSource.expires === 'string' ? headerSource.expires : null;
  headers.group = groupId;
  headers.group_index = groupIndex;
  headers.retries = retries;
  // readTimeLimit's pair is fresh and ours: it serves as the normalised header as is.
  headers.timelimit = timeLimits;
  headers.root_id = rootId;
  headers.parent_id = parentId;
  headers.argsrepr =
    typeof headerSource.argsrepr === 'string' ? headerSource.argsrepr : argsRepr(args);
  headers.kwargsrepr =
    typeof headerSource.kwargsrepr === 'string' ? headerSource.kwargsrepr : kwargsRepr(kwargs);
  headers.origin = origin ?? '';
  headers.ignore_result = ignoreResult;

  const properties: MessageProperties = isRecord(message.properties)
    ? { ...message.properties }
    : {};
  const replyTo =
    typeof properties.reply_to === 'string' && properties.reply_to !== ''
      ? properties.reply_to
      : null;
  const correlationId =
    typeof properties.correlation_id === 'string' ? properties.correlation_id : null;

  return {
    protocol,
    name: name,
    id: id,
    args: args,
    kwargs: kwargs,
    embed,
    headers,
    properties,
    eta,
    expires,
    retries: retries,
    timeLimit: timeLimits[0],
    softTimeLimit: timeLimits[1],
    rootId,
    parentId,
    groupId,
    groupIndex: groupIndex,
    shadow,
    origin,
    ignoreResult: ignoreResult,
    replyTo,
    correlationId,
  };
}

/** The media type in lower case, parameters dropped; the usual exact `application/json` as is. */
function mediaType(contentType: string): string {
  if (contentType === JSON_CONTENT_TYPE) return contentType;
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function readBody(bytes: Buffer): JsonValue {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    return fail('body is not valid UTF-8', error);
  }
  try {
    return parseCeleryJson(text);
  } catch (error) {
    return fail(
      `body is not valid JSON (${error instanceof Error ? error.message : String(error)}): ${excerpt(text)}`,
      error,
    );
  }
}

/** As Celery's hybrid_to_proto2: headers from a v1 body, then the message's own on top. */
function protocol1Headers(
  body: JsonObject,
  rawHeaders: Record<string, unknown>,
): Record<string, unknown> {
  return {
    lang: body.lang ?? 'py',
    task: body.task,
    id: body.id,
    shadow: body.shadow ?? null,
    eta: body.eta ?? null,
    expires: body.expires ?? null,
    group: body.group ?? body.taskset ?? null,
    group_index: body.group_index ?? null,
    retries: body.retries ?? 0,
    timelimit: body.timelimit ?? [null, null],
    root_id: body.root_id ?? null,
    parent_id: body.parent_id ?? null,
    argsrepr: body.argsrepr ?? null,
    kwargsrepr: body.kwargsrepr ?? null,
    origin: body.origin ?? null,
    ignore_result: body.ignore_result ?? false,
    ...rawHeaders,
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decompress(body: Buffer, compression: unknown, limit: number): Buffer {
  const type = typeof compression === 'string' ? compression.toLowerCase() : '';
  const method =
    type === 'application/x-gzip' || type === 'gzip' || type === 'zlib'
      ? inflateSync
      : type === 'application/x-brotli' || type === 'brotli'
        ? brotliDecompressSync
        : null;
  if (method === null) {
    return fail(
      `compression ${JSON.stringify(compression)} is not supported (accepted: application/x-gzip, application/x-brotli); ` +
        `send uncompressed or with compression='gzip'`,
    );
  }
  try {
    return method(body, { maxOutputLength: limit });
  } catch (error) {
    const tooLarge =
      error instanceof RangeError || (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    return fail(
      tooLarge
        ? `decompressed body is over the ${limit}-byte limit`
        : `body does not decompress as ${type}`,
      error,
    );
  }
}

function readEmbed(value: JsonValue): TaskEmbed {
  // Some non-Python senders leave the embed out; an absent workflow is no workflow.
  if (value === null || value === undefined)
    return { callbacks: null, errbacks: null, chain: null, chord: null };
  if (!isJsonObject(value))
    return fail(`embed (third body item) must be an object, got ${describe(value)}`);
  return {
    callbacks: signatureList(value.callbacks, 'callbacks'),
    errbacks: signatureList(value.errbacks, 'errbacks'),
    chain: signatureList(value.chain, 'chain'),
    chord:
      value.chord === null || value.chord === undefined ? null : signature(value.chord, 'chord'),
  };
}

function signatureList(value: JsonValue | undefined, what: string): SignatureJson[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value))
    return fail(`${what} must be a list of signatures or null, got ${describe(value)}`);
  return value.map((item, i) => signature(item, `${what}[${i}]`));
}

function signature(value: JsonValue, what: string): SignatureJson {
  if (!isJsonObject(value))
    return fail(`${what} must be a signature object, got ${describe(value)}`);
  if (typeof value.task !== 'string' || value.task === '') return fail(`${what} has no task name`);
  if (value.args !== undefined && value.args !== null && !Array.isArray(value.args))
    return fail(`${what}.args must be a list`);
  for (const key of ['kwargs', 'options'] as const) {
    const field = value[key];
    if (field !== undefined && field !== null && !isJsonObject(field))
      return fail(`${what}.${key} must be an object`);
  }
  // Fill what a hand-written signature may leave out, without reordering what is there.
  if (value.args === undefined || value.args === null) value.args = [];
  if (value.kwargs === undefined || value.kwargs === null) value.kwargs = {};
  if (value.options === undefined || value.options === null) value.options = {};
  if (value.subtask_type === undefined) value.subtask_type = null;
  if (value.immutable === undefined) value.immutable = false;
  return value as SignatureJson;
}

function optionalDate(value: unknown, what: string): Date | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    return fail(
      `${what} must be an ISO 8601 datetime or null, got ${describe(value as JsonValue)}`,
    );
  try {
    return parseCeleryDate(value);
  } catch (error) {
    return fail(`${what} is not a valid ISO 8601 datetime: ${excerpt(value)}`, error);
  }
}

function optionalString(value: unknown, what: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    return fail(`${what} must be a string or null, got ${describe(value as JsonValue)}`);
  return value;
}

/** `[hard, soft]` in seconds, as a fresh pair. */
function readTimeLimit(value: unknown): [number | null, number | null] {
  if (value === undefined || value === null) return [null, null];
  if (!Array.isArray(value) || value.length !== 2)
    return fail(`timelimit must be [hard, soft], got ${describe(value as JsonValue)}`);
  const [hard, soft] = value as unknown[];
  return [timeLimitSeconds(hard, 'hard'), timeLimitSeconds(soft, 'soft')];
}

function timeLimitSeconds(limit: unknown, which: string): number | null {
  if (limit === null || limit === undefined) return null;
  if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0) {
    return fail(
      `${which} time limit must be a non-negative number of seconds or null, got ${describe(limit as JsonValue)}`,
    );
  }
  return limit;
}

function isRecord(value: unknown): value is Record<string, JsonValue | undefined> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
  );
}

/** "a list of 2 items", "an object", "the string 'x'": what a wrong value was, briefly. */
function describe(value: JsonValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'string':
      return `the string ${excerpt(value, 40)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'bigint':
      return 'an integer';
    case 'function':
    case 'symbol':
    case 'undefined':
      return typeof value;
  }
}
