/**
 * What a task message carries for flow control, in its headers: the debounce window's key,
 * the fairness key (set by the sender, which holds the key functions), and a call's own
 * keys for the limits the worker applies (`ApplyOptions.flow`). Plus how a message is
 * kept in the fairness queue. Pure: no I/O.
 */
import type { FlowCallOptions } from '../app/task-options.js';
import type { JsonValue, TransportMessage } from '../protocol/types.js';

/** The debounce window's store key (`<task>:deb[:<key>]`). */
export const DEBOUNCE_HEADER = 'celeriac_debounce';
/** The fairness key: the message was queued in the flow store under it. */
export const FAIR_HEADER = 'celeriac_fair';
/** A call's own keys for the worker-side limits, as JSON: `{ throttle: 'k' | false, ... }`. */
export const FLOW_HEADER = 'celeriac_flow';

/** The worker-side limits a call may re-key or skip. */
export type WorkerLimit = 'throttle' | 'singleton' | 'rateLimit' | 'concurrency';
const WORKER_LIMITS: readonly WorkerLimit[] = ['throttle', 'singleton', 'rateLimit', 'concurrency'];

/** The header value for a call's worker-side overrides, or undefined when it has none. */
export function flowHeaderOf(flow: FlowCallOptions): string | undefined {
  const picked: Partial<Record<WorkerLimit, string | false>> = {};
  let any = false;
  for (const limit of WORKER_LIMITS) {
    const given = flow[limit];
    if (given === undefined) continue;
    picked[limit] = given === false ? false : String(given.key);
    any = true;
  }
  return any ? JSON.stringify(picked) : undefined;
}

/** A message's worker-side overrides (unreadable ones are ignored: the task's own apply). */
export function readFlowHeader(
  value: JsonValue | undefined,
): Partial<Record<WorkerLimit, string | false>> | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const out: Partial<Record<WorkerLimit, string | false>> = {};
    for (const limit of WORKER_LIMITS) {
      const v = (parsed as Record<string, unknown>)[limit];
      if (v === false || typeof v === 'string') out[limit] = v;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** A message as the fairness queue keeps it (JSON, the body in base64). */
export function encodeQueuedMessage(message: TransportMessage): string {
  return JSON.stringify({
    b: message.body.toString('base64'),
    t: message.contentType,
    e: message.contentEncoding,
    h: message.headers,
    p: message.properties,
  });
}

export function decodeQueuedMessage(payload: string): TransportMessage {
  const m = JSON.parse(payload) as {
    b: string;
    t: string;
    e: string;
    h: TransportMessage['headers'];
    p: TransportMessage['properties'];
  };
  return {
    body: Buffer.from(m.b, 'base64'),
    contentType: m.t,
    contentEncoding: m.e,
    headers: m.h,
    properties: m.p,
  };
}

/** A message's id in the fairness queue and as a token: its task id and retry count. */
export function queuedIdOf(message: TransportMessage): string {
  const { id, retries } = message.headers;
  return `${typeof id === 'string' ? id : JSON.stringify(id)}#${typeof retries === 'number' ? retries : 0}`;
}
