/**
 * Celery's monitoring events, encoded and decoded without I/O: one event is a flat JSON
 * object (`type`, `hostname`, `timestamp`, `clock`, ...) published to the `celeryev`
 * exchange with routing key `<group>.<name>` (`task.succeeded`, `worker.heartbeat`); a
 * batch is a JSON list sent as `task.multi`. Field names and order as Celery 5.2 writes
 * them (test/fixtures/celery-wire/*​/worker_events.json). Must never do I/O.
 */
import { jsonBody, MalformedControlMessageError } from './control.js';
import { isJsonObject, toPythonJson } from './json.js';
import { pythonStringRepr, saferepr } from './repr.js';
import type { JsonObject, JsonValue, TransportMessage } from './types.js';
import type { WideJsonValue } from './json.js';

/** Celery's `event_exchange`: a topic exchange (kombu turns it into a fanout on Redis). */
export const EVENT_EXCHANGE = 'celeryev';
/** `event_queue_prefix`: a receiver's queue is `celeryev.<uuid>`. */
export const EVENT_QUEUE_PREFIX = 'celeryev';
/** `event_queue_ttl`: events not read within it are dropped. */
export const EVENT_QUEUE_TTL_MS = 5_000;
/** `event_queue_expires`: an unused receiver queue is deleted after it. */
export const EVENT_QUEUE_EXPIRES_MS = 60_000;
/** How often a worker sends `worker-heartbeat` (Celery's default `freq`, seconds). */
export const WORKER_HEARTBEAT_SECONDS = 2;

/** One event as Celery sends it; every field beyond the common ones depends on `type`. */
/** The task state each task event reports, as Celery's event state machine reads them. */
export const TASK_EVENT_STATES: Readonly<Record<string, string>> = {
  'task-sent': 'PENDING',
  'task-received': 'RECEIVED',
  'task-started': 'STARTED',
  'task-succeeded': 'SUCCESS',
  'task-failed': 'FAILURE',
  'task-retried': 'RETRY',
  'task-revoked': 'REVOKED',
  'task-rejected': 'REJECTED',
};

export interface CeleryEvent {
  type: string;
  hostname: string;
  timestamp: number;
  clock?: number;
  pid?: number;
  utcoffset?: number;
  uuid?: string;
  [field: string]: JsonValue | undefined;
}

/** Who sends an event: the fields Celery's dispatcher adds to every event. */
export interface EventOrigin {
  hostname: string;
  pid: number;
  /** The sender's Lamport clock after `forward()`. */
  clock: number;
  /** Unix seconds; default now. */
  timestamp?: number | undefined;
}

/** `task-succeeded` -> `task.succeeded` (Python's `type.replace('-', '.')`). */
export function eventRoutingKey(type: string): string {
  return type.replace(/-/g, '.');
}

/** The group of an event type: `task` for `task-sent`, `worker` for `worker-online`. */
export function eventGroup(type: string): string {
  const dash = type.indexOf('-');
  return dash === -1 ? type : type.slice(0, dash);
}

/**
 * Celery's `utcoffset()`: the local zone's offset in whole hours, positive west of UTC
 * (Python's `time.timezone // 3600`, or `altzone` in summer time).
 */
export function utcOffsetHours(date = new Date()): number {
  return Math.floor(date.getTimezoneOffset() / 60);
}

/**
 * One event object in the key order Celery's dispatcher writes: `hostname, utcoffset, pid,
 * clock`, the event's own fields, then `timestamp, type`.
 */
export function buildEvent(
  type: string,
  fields: { [key: string]: JsonValue | undefined },
  origin: EventOrigin,
): CeleryEvent {
  const event: CeleryEvent = {
    hostname: origin.hostname,
    utcoffset: utcOffsetHours(),
    pid: origin.pid,
    clock: origin.clock,
  } as CeleryEvent;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value !== undefined && !(key in event)) event[key] = value;
  }
  event.timestamp = origin.timestamp ?? Date.now() / 1000;
  event.type = type;
  return event;
}

/**
 * The message for one event (routing key `<group>.<name>`) or for a batch (a list body,
 * routing key `<group>.multi`, as Celery's buffered dispatcher sends task events).
 */
export function encodeEventMessage(
  events: CeleryEvent | readonly CeleryEvent[],
  hostname: string,
): { message: TransportMessage; routingKey: string } {
  let routingKey: string;
  if (Array.isArray(events)) {
    const first = (events as readonly CeleryEvent[])[0];
    if (!first) throw new TypeError('encodeEventMessage: an empty batch');
    routingKey = `${eventGroup(first.type)}.multi`;
  } else {
    routingKey = eventRoutingKey((events as CeleryEvent).type);
  }
  const message: TransportMessage = {
    body: Buffer.from(toPythonJson(events as unknown as WideJsonValue)),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { hostname },
    properties: {
      delivery_mode: 1,
      delivery_info: { exchange: EVENT_EXCHANGE, routing_key: routingKey },
      priority: 0,
    },
  };
  return { message, routingKey };
}

/**
 * The events of one message: a single object, or the list of a `*.multi` batch. Entries
 * without a string `type` are dropped.
 * @throws MalformedControlMessageError when the body is neither.
 */
export function decodeEventMessage(message: TransportMessage): CeleryEvent[] {
  const body = jsonBody(message, 'event');
  const items = Array.isArray(body) ? body : [body];
  const events: CeleryEvent[] = [];
  for (const item of items) {
    if (!isJsonObject(item)) {
      if (!Array.isArray(body)) throw new MalformedControlMessageError('an event is not an object');
      continue;
    }
    if (typeof item.type !== 'string') continue;
    const hostname = typeof item.hostname === 'string' ? item.hostname : '';
    const timestamp = typeof item.timestamp === 'number' ? item.timestamp : 0;
    events.push({ ...item, type: item.type, hostname, timestamp });
  }
  return events;
}

/** `safe_repr(exc)` as Celery puts it in `exception`: `ValueError('boom')`. */
export function exceptionRepr(typeName: string, message: string): string {
  return `${typeName}(${message === '' ? '' : pythonStringRepr(message)})`;
}

/** `safe_repr(retval)` as Celery puts it in `task-succeeded`'s `result`. */
export function resultRepr(value: unknown): string {
  try {
    return saferepr((value ?? null) as WideJsonValue);
  } catch {
    return String(value);
  }
}

/** The fields of a `task-received` event, from what the worker read in the message. */
export interface ReceivedFields {
  uuid: string;
  name: string;
  args: string;
  kwargs: string;
  root_id: string | null;
  parent_id: string | null;
  retries: number;
  eta: string | null;
  expires: string | null;
}

/** The fields of a `task-sent` event, as Celery's client sends it with `task_send_sent_event`. */
export interface SentFields extends Omit<ReceivedFields, 'name'> {
  name: string;
  queue: string;
  exchange: string;
  routing_key: string;
}

/** Field order of `task-sent` (uuid, root_id, parent_id, name, args, ...), as Celery writes it. */
export function sentEventFields(fields: SentFields): JsonObject {
  return {
    uuid: fields.uuid,
    root_id: fields.root_id,
    parent_id: fields.parent_id,
    name: fields.name,
    args: fields.args,
    kwargs: fields.kwargs,
    retries: fields.retries,
    eta: fields.eta,
    expires: fields.expires,
    queue: fields.queue,
    exchange: fields.exchange,
    routing_key: fields.routing_key,
  };
}

/** Field order of `task-received` (uuid, name, args, kwargs, root_id, ...). */
export function receivedEventFields(fields: ReceivedFields): JsonObject {
  return {
    uuid: fields.uuid,
    name: fields.name,
    args: fields.args,
    kwargs: fields.kwargs,
    root_id: fields.root_id,
    parent_id: fields.parent_id,
    retries: fields.retries,
    eta: fields.eta,
    expires: fields.expires,
  };
}

/** What a worker reports in `worker-online`, `worker-heartbeat` and `worker-offline`. */
export interface WorkerHeartbeatFields {
  freq: number;
  active: number;
  processed: number;
  loadavg: number[];
  sw_ident: string;
  sw_ver: string;
  sw_sys: string;
}

export function heartbeatEventFields(fields: WorkerHeartbeatFields): JsonObject {
  return {
    freq: fields.freq,
    active: fields.active,
    processed: fields.processed,
    loadavg: fields.loadavg,
    sw_ident: fields.sw_ident,
    sw_ver: fields.sw_ver,
    sw_sys: fields.sw_sys,
  };
}
