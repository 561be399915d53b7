/**
 * Builds the result metas a worker stores for each state, in Celery's shape, so Python
 * clients read them as they read Celery's. Pure: time comes in as an argument.
 */
import type { JsonValue, ResultMeta, SerializedError, TaskState } from '../protocol/types.js';

export interface MetaBase {
  taskId: string;
  parentId?: string | null | undefined;
  groupId?: string | null | undefined;
  now?: Date | undefined;
}

// A busy worker stores thousands of results within one millisecond: format it once.
let lastMs = Number.NaN;
let lastText = '';

/** Celery 5.6 writes `2026-11-24T17:40:01.123000+00:00`. */
export function celeryDate(date: Date): string {
  return celeryDateOf(date.getTime());
}

function celeryDateOf(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastText = new Date(ms).toISOString().replace('Z', '000+00:00');
  }
  return lastText;
}

export function buildMeta(
  base: MetaBase,
  status: TaskState,
  result: JsonValue,
  traceback: string | null = null,
): ResultMeta {
  const meta = metaFor({ id: base.taskId, parentId: base.parentId, groupId: base.groupId }, status, result, traceback);
  if (base.now) meta.date_done = celeryDate(base.now);
  return meta;
}

/** A task's meta in a state, dated now, from its ids (a decoded message has them): the worker's per-task path. */
export function metaFor(
  task: { id: string; parentId?: string | null | undefined; groupId?: string | null | undefined },
  status: TaskState,
  result: JsonValue,
  traceback: string | null = null,
): ResultMeta {
  const meta: ResultMeta = {
    status,
    result,
    traceback,
    children: [],
    date_done: celeryDateOf(Date.now()),
    task_id: task.id,
  };
  if (task.groupId) meta.group_id = task.groupId;
  if (task.parentId) meta.parent_id = task.parentId;
  return meta;
}

/** An error as Celery names its own exceptions, so Python rebuilds the right class. */
export function celeryError(type: string, message: string): SerializedError {
  return { exc_type: type, exc_message: [message], exc_module: 'celery.exceptions' };
}
