/**
 * What a listing backend indexes of each stored meta when the app's `resultExtended` is
 * on, and how a query maps onto that index: the scalar fields of the arguments and the
 * result (`args.customerId = 42`), per-minute counters by name, queue and state (the
 * dashboard's charts and `/metrics`), and run-time buckets. Pure: the SQLite and Redis
 * backends write what these functions return in the same transaction or script as their
 * other index writes. An index here is a candidate set, never the answer: listings
 * still apply the exact filter (task-listing.ts), so a superset is always safe and a
 * missing entry never is.
 */
import type { JsonValue, ResultMeta } from '../protocol/types.js';
import { fieldPath, type TaskFieldFilter } from './task-listing.js';

/** The entry every task with more fields than MAX_FIELDS carries: a candidate of every field filter. */
export const OVERFLOW_FIELD = '*';
/** Fields indexed per task at most; past it the task is marked OVERFLOW_FIELD instead. */
export const MAX_FIELDS = 64;
/** Longest value text indexed; a filter on a longer value is answered without the index. */
const MAX_VALUE = 200;
const NAME = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Run-time bucket bounds in seconds (the histogram of `/metrics`), last bucket +Inf. */
export const RUNTIME_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300] as const;

/** One index entry: `field=JSON value`, e.g. `args.customerId=42` (no field name holds `=`). */
export function fieldEntry(field: string, value: JsonValue): string {
  return `${field}=${JSON.stringify(value)}`;
}

function isScalar(value: JsonValue | undefined): value is string | number | boolean | null {
  if (value === null) return true;
  if (typeof value === 'string') return value.length <= MAX_VALUE;
  return typeof value === 'number' || typeof value === 'boolean';
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The index entries of a meta: for each positional argument `args.<i>` when scalar, and
 * `args.<name>` / `args.<name>.<name>` for the fields of one that is an object; the same
 * two levels of `kwargs` and of `result` (and `result` itself when scalar). Keys that are
 * not plain names are skipped (no filter path can name them). More than MAX_FIELDS
 * entries: just [OVERFLOW_FIELD].
 */
export function indexedFields(meta: ResultMeta): string[] {
  const entries = new Set<string>();
  const objectFields = (root: string, value: { [key: string]: JsonValue }) => {
    for (const [key, inner] of Object.entries(value)) {
      if (!NAME.test(key)) continue;
      if (isScalar(inner)) entries.add(fieldEntry(`${root}.${key}`, inner));
      else if (isObject(inner))
        for (const [key2, leaf] of Object.entries(inner))
          if (NAME.test(key2) && isScalar(leaf))
            entries.add(fieldEntry(`${root}.${key}.${key2}`, leaf));
    }
  };
  (Array.isArray(meta.args) ? meta.args : []).forEach((arg, i) => {
    if (isScalar(arg)) entries.add(fieldEntry(`args.${i}`, arg));
    else if (isObject(arg)) objectFields('args', arg);
  });
  if (isObject(meta.kwargs ?? undefined)) objectFields('kwargs', meta.kwargs!);
  // Every state's result: a FAILURE's is its error (`result.exc_type = "ValueError"`).
  if (isScalar(meta.result)) entries.add(fieldEntry('result', meta.result));
  else if (isObject(meta.result)) objectFields('result', meta.result);
  return entries.size > MAX_FIELDS ? [OVERFLOW_FIELD] : [...entries];
}

/**
 * The index entry whose tasks include every task the filter keeps, or undefined when the
 * index cannot answer it (a path deeper than indexed, an index inside a value, a long
 * string). `args.<i>.<name>` maps to `args.<name>` (a superset).
 */
export function filterEntry(filter: TaskFieldFilter): string | undefined {
  const [root, ...rest] = fieldPath(filter.path);
  const value = filter.value;
  if (typeof value === 'string' && value.length > MAX_VALUE) return undefined;
  if (typeof value === 'number' && !Number.isFinite(value)) return undefined;
  let path = rest;
  if (root === 'args' && path.length > 0 && /^\d+$/.test(path[0]!)) {
    if (path.length === 1) return fieldEntry(`args.${path[0]}`, value);
    path = path.slice(1);
  }
  if (path.length === 0) return root === 'result' ? fieldEntry('result', value) : undefined;
  if (path.length > 2 || !path.every((segment) => NAME.test(segment))) return undefined;
  return fieldEntry(`${root}.${path.join('.')}`, value);
}

/** The minute (unix ms / 60 000) a store is counted in. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/** One counted store: by task name, queue and state; with its run-time bucket when it ended a run. */
export interface CountedStore {
  name: string;
  queue: string;
  state: string;
  /** Index into RUNTIME_BUCKETS (RUNTIME_BUCKETS.length for +Inf), when the meta has both times. */
  bucket?: number | undefined;
  /** Run time in seconds, with `bucket`. */
  seconds?: number | undefined;
}

/** What a store adds to the counters. */
export function countedStore(meta: ResultMeta): CountedStore {
  const counted: CountedStore = {
    name: meta.name ?? '',
    queue: meta.queue ?? '',
    state: meta.status,
  };
  if (meta.status === 'SUCCESS' || meta.status === 'FAILURE') {
    const started = meta.date_started ? Date.parse(zoned(meta.date_started)) : NaN;
    const done = meta.date_done ? Date.parse(zoned(meta.date_done)) : NaN;
    if (!Number.isNaN(started) && !Number.isNaN(done) && done >= started) {
      const seconds = (done - started) / 1000;
      const bucket = RUNTIME_BUCKETS.findIndex((bound) => seconds <= bound);
      counted.seconds = seconds;
      counted.bucket = bucket === -1 ? RUNTIME_BUCKETS.length : bucket;
    }
  }
  return counted;
}

/** Celery 5.2's dates are naive UTC. */
export function zoned(date: string): string {
  return /(?:Z|[+-]\d\d:?\d\d)$/.test(date) ? date : `${date}Z`;
}
