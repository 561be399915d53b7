/**
 * The tasks page's filters as URL query parameters, both ways, so every view is a
 * shareable URL: `?state=FAILURE&name=emails.send&after=2026-12-07T08:00&field=args.customerId%3D42`.
 * Times are UTC (`YYYY-MM-DDTHH:MM`, as a datetime-local input sends). A field filter is
 * `path = value`, the value read as JSON when it is JSON (`42`, `true`, `"42"`), else as
 * text. Pure: no I/O.
 */
import {
  TaskQueryError,
  type TaskFieldFilter,
  type TaskListOptions,
} from '../../backends/task-listing.js';

export interface TaskFilters extends TaskListOptions {
  /** The field filters as typed, for the form. */
  fieldTexts: string[];
}

export function filtersFrom(params: URLSearchParams): TaskFilters {
  const list = (name: string) =>
    params
      .getAll(name)
      .map((v) => v.trim())
      .filter(Boolean);
  const one = (name: string) => params.get(name)?.trim() || undefined;
  const fieldTexts = list('field');
  const filters: TaskFilters = { fieldTexts };
  const states = list('state');
  if (states.length) filters.states = states;
  const names = list('name');
  if (names.length) filters.names = names;
  const queue = one('queue');
  if (queue) filters.queue = queue;
  const worker = one('worker');
  if (worker) filters.worker = worker;
  const after = one('after');
  if (after) filters.doneAfter = utc(after, 'after');
  const before = one('before');
  if (before) filters.doneBefore = utc(before, 'before');
  if (fieldTexts.length) filters.fields = fieldTexts.map(parseField);
  if (params.get('order') === 'asc') filters.order = 'asc';
  const cursor = one('cursor');
  if (cursor) filters.cursor = cursor;
  return filters;
}

/** The query string of the filters (without cursor unless given). */
export function searchOf(
  filters: TaskListOptions & { fieldTexts?: string[] },
  cursor?: string,
): string {
  const params = new URLSearchParams();
  for (const state of filters.states ?? []) params.append('state', state);
  for (const name of filters.names ?? []) params.append('name', name);
  if (filters.queue) params.set('queue', filters.queue);
  if (filters.worker) params.set('worker', filters.worker);
  if (filters.doneAfter !== undefined) params.set('after', isoMinute(filters.doneAfter));
  if (filters.doneBefore !== undefined) params.set('before', isoMinute(filters.doneBefore));
  for (const text of filters.fieldTexts ?? []) params.append('field', text);
  if (filters.order === 'asc') params.set('order', 'asc');
  if (cursor) params.set('cursor', cursor);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function parseField(text: string): TaskFieldFilter {
  const match = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/.exec(text);
  if (!match)
    throw new TaskQueryError(
      `"${text}" is not a field filter: write it as path = value, e.g. args.customerId = 42.`,
    );
  const [, path = '', valueText = ''] = match;
  let value: TaskFieldFilter['value'] = valueText;
  try {
    const parsed: unknown = JSON.parse(valueText);
    if (parsed === null || ['string', 'number', 'boolean'].includes(typeof parsed))
      value = parsed as TaskFieldFilter['value'];
  } catch {
    // Not JSON: compared as text.
  }
  return { path, value };
}

function utc(text: string, what: string): number {
  const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(ms))
    throw new TaskQueryError(`"${text}" is no time for "${what}": use YYYY-MM-DDTHH:MM (UTC).`);
  return ms;
}

export function isoMinute(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(':00.000Z') ? iso.slice(0, 16) : iso.slice(0, 23);
}
