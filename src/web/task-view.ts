/**
 * The public JSON view of a task's state, as the web handlers send it: what a browser may
 * see of a result meta. It must never expose tracebacks, worker host names or pids, or
 * the task's arguments: a task id in a URL is all a client needs to read this view, so
 * only what the task chose to return or report goes out.
 */
import { progressOf } from '../app/async-result.js';
import type { Progress } from '../app/task-context.js';
import type { JsonValue, ResultMeta, TaskState } from '../protocol/types.js';
import { READY_STATES } from '../protocol/types.js';

/** What `GET <prefix>/:id` answers and each server-sent event carries. */
export interface TaskView {
  id: string;
  state: TaskState;
  /**
   * The task's return value once it succeeded; for a custom state set with
   * `updateState(state, meta)`, that meta (Celery's `info`). Otherwise null.
   */
  result: JsonValue;
  /** Why the task failed, was revoked, or is being retried; null otherwise. */
  error: { type: string; message: string } | null;
  /** The last progress the task reported, while it is in the PROGRESS state. */
  progress: Progress | null;
  /** When the state was recorded, ISO 8601 in UTC, or null for PENDING. */
  dateDone: string | null;
  /** While RETRY, what the worker recorded of the retry; null in every other state. */
  retry: RetryView | null;
}

/** A retry as the RETRY meta records it; each field is null when the worker did not record it. */
export interface RetryView {
  /** The attempt that failed: 1 for the first run (Celery's `retries` + 1). */
  attempt: number | null;
  /** Attempts the task gets in all (`max_retries` + 1); null when unknown or unlimited. */
  maxAttempts: number | null;
  /** When the next attempt is due (the `eta` of the retry), ISO 8601 in UTC. */
  nextAttemptAt: string | null;
}

/** States the worker writes with a meaning of their own (their `result` is not the task's). */
const BUILTIN_STATES: ReadonlySet<string> = new Set([
  'PENDING',
  'RECEIVED',
  'STARTED',
  'RETRY',
  'SUCCESS',
  'FAILURE',
  'REVOKED',
  'PROGRESS',
]);
const ERROR_STATES: ReadonlySet<string> = new Set(['FAILURE', 'RETRY', 'REVOKED']);

export function toTaskView(meta: ResultMeta): TaskView {
  const state = meta.status;
  return {
    id: meta.task_id,
    state,
    result: state === 'SUCCESS' || !BUILTIN_STATES.has(state) ? meta.result : null,
    error: ERROR_STATES.has(state) ? errorOf(meta.result, state) : null,
    progress: progressOf(meta) ?? null,
    dateDone: isoDate(meta.date_done),
    retry: state === 'RETRY' ? retryOf(meta) : null,
  };
}

/**
 * `retries` is Celery's own extended-meta field (retries before the run that failed);
 * `max_retries` and `eta` are what a Celeriac worker adds so a page can say when the next
 * attempt comes. A meta without them (Python Celery, an older worker) gives nulls.
 */
function retryOf(meta: ResultMeta): RetryView {
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value + 1 : null;
  return {
    attempt: count(meta.retries),
    maxAttempts: count(meta.max_retries),
    nextAttemptAt: typeof meta.eta === 'string' ? isoDate(meta.eta) : null,
  };
}

/** True for SUCCESS, FAILURE and REVOKED: nothing follows them. */
export function isFinal(view: TaskView): boolean {
  return READY_STATES.has(view.state);
}

/**
 * Celery stores an error as `{ exc_type, exc_message: [args...], exc_module }`; a client
 * wants one type and one message. Anything else (a revoke without a reason, a foreign
 * writer) still yields a readable message rather than a crash.
 */
function errorOf(result: JsonValue, state: TaskState): { type: string; message: string } {
  if (result !== null && typeof result === 'object' && !Array.isArray(result)) {
    // A Celeriac worker keeps the JavaScript class name in `exc_js_type` (exc_type holds the
    // Python builtin it maps to, for Python readers); a JavaScript client wants the former.
    const type =
      typeof result.exc_js_type === 'string'
        ? result.exc_js_type
        : typeof result.exc_type === 'string'
          ? result.exc_type
          : state === 'REVOKED'
            ? 'TaskRevokedError'
            : 'Error';
    return { type, message: messageOf(result.exc_message) };
  }
  if (state === 'REVOKED') return { type: 'TaskRevokedError', message: 'The task was revoked.' };
  return { type: 'Error', message: result === null ? '' : messageOf(result) };
}

function messageOf(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value))
    return value.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(', ');
  return JSON.stringify(value);
}

/**
 * Celery writes `2026-11-24T17:40:01.123000+00:00` (older versions omit the zone, meaning
 * UTC). Normalised so every client parses it the same way.
 */
function isoDate(value: string | null | undefined): string | null {
  if (!value) return null;
  const zoned = /(?:Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`;
  const time = Date.parse(zoned);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}
