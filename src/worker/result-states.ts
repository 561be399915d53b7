/**
 * The result metas a worker stores for each state, in Celery's shape (built by
 * protocol/result-meta.ts's buildResultMeta, the only builder), so Python clients read
 * them as they read Celery's.
 */
import { buildResultMeta } from '../protocol/result-meta.js';
import type { JsonValue, ResultMeta, SerializedError, TaskState } from '../protocol/types.js';
import type { DecodedTaskMessage } from '../protocol/task-message-decode.js';

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

/**
 * Celery's `result_extended` fields of the task a message carries, as its backends store
 * them beside each state (`worker` is the worker's hostname, `queue` the routing key).
 */
export function extendedFields(
  decoded: Pick<DecodedTaskMessage, 'name' | 'args' | 'kwargs' | 'retries' | 'properties'>,
  worker: string,
): ExtendedFields {
  return {
    name: decoded.name,
    args: decoded.args,
    kwargs: decoded.kwargs,
    worker,
    retries: decoded.retries,
    queue: decoded.properties.delivery_info?.routing_key ?? null,
  };
}

export type ExtendedFields = Pick<
  ResultMeta,
  'name' | 'args' | 'kwargs' | 'worker' | 'retries' | 'queue'
>;

/** An error as Celery names its own exceptions, so Python rebuilds the right class. */
export function celeryError(type: string, message: string): SerializedError {
  return { exc_type: type, exc_message: [message], exc_module: 'celery.exceptions' };
}
