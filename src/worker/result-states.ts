/**
 * The result metas a worker stores for each state, in Celery's shape (built by
 * protocol/result-meta.ts's buildResultMeta, the only builder), so Python clients read
 * them as they read Celery's.
 */
import { buildResultMeta } from '../protocol/result-meta.js';
import type { JsonValue, ResultMeta, SerializedError, TaskState } from '../protocol/types.js';

/**
 * A task's meta in a state, from its ids (a decoded message has them), dated now when the
 * state is final: the worker's per-task path onto the one builder.
 */
export function metaFor(
  task: { id: string; parentId?: string | null | undefined; groupId?: string | null | undefined },
  status: TaskState,
  result: JsonValue,
  traceback: string | null = null,
): ResultMeta {
  return buildResultMeta({
    taskId: task.id,
    status,
    result,
    traceback,
    groupId: task.groupId,
    parentId: task.parentId,
  });
}

/** An error as Celery names its own exceptions, so Python rebuilds the right class. */
export function celeryError(type: string, message: string): SerializedError {
  return { exc_type: type, exc_message: [message], exc_module: 'celery.exceptions' };
}
