/**
 * The task-listing contract (a result backend's optional `taskListing()`), for the
 * dashboard: stored tasks by filter, newest change first, in pages with opaque cursors,
 * and how many a filter matches (what a bulk action would touch). Plus the one in-process
 * matcher, for stores that filter after reading (Redis) and for tests. Pure: no I/O, and
 * nothing above the contracts is imported.
 *
 * Filters on name, queue, worker and arguments see only what the worker stored: with the
 * app's `resultExtended` on (Celery's `result_extended` fields). A task stored without
 * them matches no such filter.
 */
import type { JsonValue, ResultMeta } from '../protocol/types.js';

/** One condition on a field of the stored task: `args.customerId = 42`. */
export interface TaskFieldFilter {
  /**
   * A dotted path that starts at `args`, `kwargs` or `result`: `kwargs.customerId`,
   * `args.0`, `result.total`. `args.<name>` (a name, not an index) matches when any
   * positional argument that is an object has that field.
   */
  path: string;
  /** The value it must equal (numbers, strings, booleans, null). */
  value: string | number | boolean | null;
}

export interface TaskQuery {
  /** Only these states (`FAILURE`, `SUCCESS`, ...). */
  states?: readonly string[] | undefined;
  /** Only tasks of these names. */
  names?: readonly string[] | undefined;
  /** Only tasks taken from this queue (its routing key). */
  queue?: string | undefined;
  /** Only tasks run by this worker (its hostname). */
  worker?: string | undefined;
  /** Only tasks done at or after this time (unix ms, on `date_done`). */
  doneAfter?: number | undefined;
  /** Only tasks done before this time (unix ms, on `date_done`). */
  doneBefore?: number | undefined;
  /** Every one must hold. */
  fields?: readonly TaskFieldFilter[] | undefined;
}

export interface TaskListOptions extends TaskQuery {
  /** `desc`: the most recently stored first (the default); `asc`: the oldest first. */
  order?: 'asc' | 'desc' | undefined;
  /** Tasks per page. @default 50, at most 1000 */
  limit?: number | undefined;
  /** The `next` of the page before. */
  cursor?: string | undefined;
}

export interface TaskPage {
  tasks: ResultMeta[];
  /** The cursor of the next page; absent on the last page. */
  next?: string | undefined;
}

/** Stores counted in one minute, for one task name, queue and state. */
export interface TaskActivity {
  /** Unix ms of the minute's start. */
  minute: number;
  name: string;
  queue: string;
  state: string;
  count: number;
}

/** Counters kept since the store was created (they only grow: Prometheus counters). */
export interface TaskTotals {
  /** Stores by task name, queue and state. */
  counts: Array<{ name: string; queue: string; state: string; count: number }>;
  /** Run times of ended runs by task name: counts per bucket (not cumulative) and the sum of seconds. */
  runtimes: Array<{ name: string; buckets: number[]; sum: number }>;
}

export interface TaskListing {
  /** One page of tasks matching the query, in store order. */
  list(options: TaskListOptions): Promise<TaskPage>;
  /** How many stored tasks match the query now. */
  count(query: TaskQuery): Promise<number>;
  /**
   * Per-minute store counters from `since` (unix ms) on, oldest first: kept by stores
   * made with `resultExtended` on, each counted in the same write as its meta. Absent
   * where a store keeps none (the dashboard then samples the newest tasks).
   */
  activity?(since: number): Promise<TaskActivity[]>;
  /** The counters since the store began (see `activity`). */
  totals?(): Promise<TaskTotals>;
}

/** Raised for a query a listing cannot run: a bad path, a malformed cursor. */
export class TaskQueryError extends Error {
  override readonly name = 'TaskQueryError';
}

const SEGMENT = /^(?:[A-Za-z_$][A-Za-z0-9_$-]*|\d{1,6})$/;
export const MAX_PAGE = 1000;

/** The path's segments, checked: the first is args, kwargs or result, each is a name or an index. */
export function fieldPath(path: string): string[] {
  const segments = path.split('.');
  const [root] = segments;
  if (root !== 'args' && root !== 'kwargs' && root !== 'result')
    throw new TaskQueryError(
      `A field filter starts at args, kwargs or result (e.g. "args.customerId"), not "${path}".`,
    );
  if (segments.length > 8 || !segments.every((segment) => SEGMENT.test(segment)))
    throw new TaskQueryError(
      `"${path}" is not a field path: use names and indexes joined by dots, e.g. "kwargs.order.id".`,
    );
  return segments;
}

/** Throws TaskQueryError for a query no listing can run, before anything is read. */
export function checkQuery(query: TaskQuery): void {
  for (const filter of query.fields ?? []) fieldPath(filter.path);
}

/** The page size asked for, within bounds. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return 50;
  if (!Number.isInteger(limit) || limit < 1)
    throw new TaskQueryError('A page holds at least one task.');
  return Math.min(limit, MAX_PAGE);
}

/** Whether a stored meta matches the query: the one in-process definition of every filter. */
export function matchesTaskQuery(meta: ResultMeta, query: TaskQuery): boolean {
  if (query.states && query.states.length > 0 && !query.states.includes(meta.status)) return false;
  if (query.names && query.names.length > 0 && !query.names.includes(meta.name ?? '')) return false;
  if (query.queue !== undefined && meta.queue !== query.queue) return false;
  if (query.worker !== undefined && meta.worker !== query.worker) return false;
  if (query.doneAfter !== undefined || query.doneBefore !== undefined) {
    const done = meta.date_done ? Date.parse(withZone(meta.date_done)) : NaN;
    if (Number.isNaN(done)) return false;
    if (query.doneAfter !== undefined && done < query.doneAfter) return false;
    if (query.doneBefore !== undefined && done >= query.doneBefore) return false;
  }
  for (const filter of query.fields ?? []) {
    if (!fieldMatches(meta, fieldPath(filter.path), filter.value)) return false;
  }
  return true;
}

/** Celery 5.2's `date_done` is naive UTC: read it as UTC. */
function withZone(date: string): string {
  return /(?:Z|[+-]\d\d:?\d\d)$/.test(date) ? date : `${date}Z`;
}

function fieldMatches(
  meta: ResultMeta,
  [root, ...rest]: string[],
  value: TaskFieldFilter['value'],
): boolean {
  const start = meta[root as 'args' | 'kwargs' | 'result'];
  if (root === 'args' && rest.length > 0 && !/^\d+$/.test(rest[0]!)) {
    // args.<name>: any positional argument that is an object with that field.
    return Array.isArray(start) && start.some((arg) => equals(walk(arg, rest), value));
  }
  return equals(walk(start, rest), value);
}

function walk(value: JsonValue | undefined, segments: string[]): JsonValue | undefined {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Array.isArray(current) ? current[Number(segment)] : current[segment];
  }
  return current;
}

function equals(found: JsonValue | undefined, value: TaskFieldFilter['value']): boolean {
  return found !== undefined && found === value;
}

/**
 * The text a filter value shows in any JSON of a meta (ours, Python's `json.dumps`), or
 * undefined when writers may escape or format it differently. Stores use it as a cheap
 * text test before the exact one: it must never reject a meta the exact filter keeps.
 */
export function plainNeedle(value: string | number | boolean | null): string | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
  if (typeof value === 'string')
    return /^[A-Za-z0-9 _.@:+-]{1,200}$/.test(value) ? value : undefined;
  return String(value); // true, false, null
}

/**
 * Groups of needles for a query: a meta the exact filter keeps contains, for every group,
 * one of its needles (states and names are each one group of alternatives).
 */
export function needleGroups(query: TaskQuery): string[][] {
  const groups: string[][] = [];
  const plain = (values: readonly string[]) => {
    const needles = values.map(plainNeedle);
    return needles.every((n): n is string => n !== undefined) ? needles : undefined;
  };
  for (const values of [query.states, query.names]) {
    const group = values && values.length > 0 ? plain(values) : undefined;
    if (group) groups.push(group);
  }
  for (const value of [query.queue, query.worker]) {
    const group = value !== undefined ? plain([value]) : undefined;
    if (group) groups.push(group);
  }
  for (const filter of query.fields ?? []) groups.push(...fieldNeedles(filter));
  return groups;
}

/**
 * Needle groups for one field filter: its key, and its value as it follows a key in any
 * writer's JSON (`:42` or Python's `: 42`; strings quoted), or, for an index path, the
 * value's text alone.
 */
export function fieldNeedles(filter: TaskFieldFilter): string[][] {
  const key = fieldPath(filter.path).at(-1)!;
  const needle = plainNeedle(filter.value);
  if (/^\d+$/.test(key) || key === 'args' || key === 'kwargs' || key === 'result')
    return needle === undefined ? [] : [[needle]];
  const groups = [[`"${key}"`]];
  if (needle !== undefined) {
    const text = typeof filter.value === 'string' ? `"${needle}"` : needle;
    groups.push([`:${text}`, `: ${text}`]);
  }
  return groups;
}

/** Encodes a cursor: opaque to callers, so a store may change what it holds. */
export function encodeCursor(position: (string | number)[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Decodes a cursor made by encodeCursor with the shape `check` accepts, or throws TaskQueryError. */
export function decodeCursor<T>(cursor: string, check: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!check(value)) throw new TaskQueryError('The page cursor is not one this listing made.');
  return value;
}
