/**
 * Celery's remote-control messages (kombu's pidbox), encoded and decoded without I/O:
 * the request a client broadcasts to the `celery.pidbox` fanout exchange, the reply a
 * worker sends to `reply.celery.pidbox` with the client's routing key, the names of the
 * queues both sides declare, and the destination / pattern matching a node applies.
 * Byte-for-byte as kombu 5.2 writes them (test/fixtures/celery-control, celery-wire).
 * Must never do I/O or look at a broker: the broker moves these as opaque messages.
 */
import { isJsonObject, parseCeleryJson, toPythonJson } from './json.js';
import type { JsonObject, JsonValue, TransportMessage } from './types.js';

/** Celery's `control_exchange` default: every name below is built on it. */
export const CONTROL_NAMESPACE = 'celery';
/** `control_queue_ttl` (seconds in Celery): messages in a pidbox or reply queue expire after it. */
export const CONTROL_QUEUE_TTL_MS = 300_000;
/** `control_queue_expires`: an unused pidbox or reply queue is deleted after it. */
export const CONTROL_QUEUE_EXPIRES_MS = 10_000;

/** The fanout exchange requests go to: `celery.pidbox`. */
export function pidboxExchange(namespace = CONTROL_NAMESPACE): string {
  return `${namespace}.pidbox`;
}
/** The direct exchange replies go to: `reply.celery.pidbox`. */
export function replyExchange(namespace = CONTROL_NAMESPACE): string {
  return `reply.${namespace}.pidbox`;
}
/** A node's own queue on the pidbox exchange: `<hostname>.celery.pidbox`. */
export function pidboxQueue(hostname: string, namespace = CONTROL_NAMESPACE): string {
  return `${hostname}.${namespace}.pidbox`;
}
/** A client's reply queue, bound to the reply exchange by its oid: `<oid>.reply.celery.pidbox`. */
export function replyQueue(oid: string, namespace = CONTROL_NAMESPACE): string {
  return `${oid}.${replyExchange(namespace)}`;
}

/** Where a node sends its reply: the reply exchange and the client's oid as routing key. */
export interface ReplyAddress {
  exchange: string;
  routingKey: string;
}

/** A decoded remote-control request. */
export interface ControlRequest {
  /** The command: `ping`, `revoke`, `rate_limit`, ... */
  method: string;
  arguments: JsonObject;
  /** Node names the command is for; null for every node. */
  destination: string[] | null;
  /** With `matcher` (`glob` or `pcre`): nodes whose name matches are addressed. */
  pattern: string | null;
  matcher: string | null;
  /** Set when the sender waits for replies (with `replyTo`). */
  ticket: string | null;
  replyTo: ReplyAddress | null;
  /** The sender's Lamport clock (header `clock`). */
  clock: number;
  /** Unix seconds after which the sender no longer collects replies (header `expires`; 0 when none). */
  expires: number;
}

export interface ControlRequestSpec {
  method: string;
  arguments?: JsonObject | undefined;
  destination?: string[] | null | undefined;
  pattern?: string | null | undefined;
  matcher?: string | null | undefined;
  /** Set both to ask for replies. */
  ticket?: string | null | undefined;
  replyTo?: ReplyAddress | null | undefined;
  clock?: number | undefined;
  /** Seconds the sender waits for replies: the `expires` header is now + this. */
  timeout?: number | undefined;
  namespace?: string | undefined;
  /** Unix ms; for tests. */
  now?: number | undefined;
}

const JSON_TYPE = 'application/json';

/** The message kombu's `Mailbox._publish` sends for this request. */
export function encodeControlRequest(spec: ControlRequestSpec): TransportMessage {
  if (typeof spec.method !== 'string' || spec.method === '')
    throw new TypeError('encodeControlRequest: method must be a non-empty string');
  const body: Record<string, JsonValue> = {
    method: spec.method,
    arguments: spec.arguments ?? {},
    destination: spec.destination ?? null,
    pattern: spec.pattern ?? null,
    matcher: spec.matcher ?? null,
  };
  if (spec.ticket && spec.replyTo) {
    body.ticket = spec.ticket;
    body.reply_to = { exchange: spec.replyTo.exchange, routing_key: spec.replyTo.routingKey };
  }
  const now = spec.now ?? Date.now();
  return {
    body: Buffer.from(toPythonJson(body)),
    contentType: JSON_TYPE,
    contentEncoding: 'utf-8',
    headers: { clock: spec.clock ?? 1, expires: spec.timeout ? now / 1000 + spec.timeout : 0 },
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: pidboxExchange(spec.namespace), routing_key: '' },
      priority: 0,
    },
  };
}

/** @throws MalformedControlMessageError when the message is not a pidbox request. */
export function decodeControlRequest(message: TransportMessage): ControlRequest {
  const body = jsonBody(message, 'remote-control request');
  if (!isJsonObject(body)) throw malformed('the request body is not a JSON object');
  const { method } = body;
  if (typeof method !== 'string' || method === '') throw malformed('the request has no "method"');
  const args = body.arguments ?? {};
  if (!isJsonObject(args)) throw malformed(`"arguments" of ${method} is not an object`);
  const destination = body.destination ?? null;
  if (
    destination !== null &&
    !(Array.isArray(destination) && destination.every((name) => typeof name === 'string'))
  ) {
    throw malformed(`"destination" of ${method} is not a list of node names`);
  }
  let replyTo: ReplyAddress | null = null;
  const rawReply = body.reply_to;
  if (isJsonObject(rawReply)) {
    const { exchange, routing_key: routingKey } = rawReply;
    if (typeof exchange !== 'string' || typeof routingKey !== 'string')
      throw malformed(`"reply_to" of ${method} needs "exchange" and "routing_key"`);
    replyTo = { exchange, routingKey };
  }
  return {
    method,
    arguments: args,
    destination: destination,
    pattern: typeof body.pattern === 'string' ? body.pattern : null,
    matcher: typeof body.matcher === 'string' ? body.matcher : null,
    ticket: typeof body.ticket === 'string' ? body.ticket : null,
    replyTo,
    clock: numberHeader(message.headers.clock),
    expires: numberHeader(message.headers.expires),
  };
}

/**
 * Whether a node named `hostname` runs this request, as kombu's `Node.handle_message`
 * decides: a destination list names it, or else a pattern matches it, or else (neither
 * given) every node does.
 */
export function isAddressedTo(request: ControlRequest, hostname: string): boolean {
  if (request.destination && request.destination.length > 0)
    return request.destination.includes(hostname);
  if (request.pattern && request.matcher)
    return matches(hostname, request.pattern, request.matcher);
  return true;
}

/** kombu.matcher: `glob` is fnmatch (whole name), `pcre` is Python's re.match (anchored at the start). */
function matches(name: string, pattern: string, matcher: string): boolean {
  try {
    if (matcher === 'glob') return globToRegExp(pattern).test(name);
    if (matcher === 'pcre') return new RegExp(`^(?:${pattern})`).test(name);
  } catch {
    return false;
  }
  return false;
}

function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        let set = pattern.slice(i + 1, end);
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        out += `[${set.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** A reply as a node sends it: `{hostname: value}`, with the request's ticket. */
export interface ControlReply {
  hostname: string;
  value: JsonValue;
  ticket: string | null;
  clock: number;
}

/** The message kombu's `Mailbox._publish_reply` sends. */
export function encodeControlReply(
  reply: { hostname: string; value: JsonValue; ticket: string | null; clock?: number },
  to: ReplyAddress,
): TransportMessage {
  return {
    body: Buffer.from(toPythonJson({ [reply.hostname]: reply.value })),
    contentType: JSON_TYPE,
    contentEncoding: 'utf-8',
    headers: { ticket: reply.ticket, clock: reply.clock ?? 1 },
    properties: {
      delivery_mode: 1,
      delivery_info: { exchange: to.exchange, routing_key: to.routingKey },
      priority: 0,
    },
  };
}

/** @throws MalformedControlMessageError when the message is not a pidbox reply. */
export function decodeControlReply(message: TransportMessage): ControlReply {
  const body = jsonBody(message, 'remote-control reply');
  if (!isJsonObject(body)) throw malformed('the reply body is not a JSON object');
  const names = Object.keys(body);
  if (names.length !== 1) throw malformed('a reply must hold exactly one node name');
  const hostname = names[0]!;
  const ticket = message.headers.ticket;
  return {
    hostname,
    value: body[hostname] ?? null,
    ticket: typeof ticket === 'string' ? ticket : null,
    clock: numberHeader(message.headers.clock),
  };
}

/** kombu's `ok(value)` / `nok(value)` reply shapes. */
export function okReply(value: JsonValue): JsonObject {
  return { ok: value };
}
export function errorReply(value: JsonValue): JsonObject {
  return { error: value };
}

/** The JSON body of a control or event message; only JSON is read (kombu's `accept=['json']`). */
export function jsonBody(message: TransportMessage, what: string): JsonValue {
  if (message.contentType !== JSON_TYPE)
    throw malformed(`the ${what} is ${message.contentType || 'untyped'}, only JSON is read`);
  try {
    return parseCeleryJson(message.body.toString('utf8'));
  } catch (error) {
    throw new MalformedControlMessageError(
      `the ${what} is not valid JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
}

function numberHeader(value: JsonValue | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** A remote-control or event message that cannot be read; the reader logs it and goes on. */
export class MalformedControlMessageError extends Error {
  constructor(reason: string, options?: ErrorOptions) {
    super(`Ignored a malformed control or event message: ${reason}`, options);
    this.name = 'MalformedControlMessageError';
  }
}

function malformed(reason: string): MalformedControlMessageError {
  return new MalformedControlMessageError(reason);
}

/**
 * kombu's LamportClock: every message sent carries `forward()`, every message read
 * `adjust(its clock)`, so events and replies can be ordered across nodes.
 */
export class LamportClock {
  constructor(private current = 0) {}

  get value(): number {
    return this.current;
  }

  forward(): number {
    return ++this.current;
  }

  adjust(other: number): number {
    this.current = Math.max(this.current, Number.isFinite(other) ? other : 0) + 1;
    return this.current;
  }
}
