/**
 * The TaskContext a worker hands to each execution: ids, the abort signal, progress and
 * state updates written to the result backend, and `retry()`. One per run; it must never
 * ack or publish itself (the executor does, after the run ends).
 */
import type { ResultBackend } from '../backends/backend.js';
import type { DecodedTaskMessage } from '../protocol/task-message.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';
import { Retry, type Progress, type RetryOptions, type TaskContext } from '../app/task-context.js';
import { buildMeta } from './result-states.js';

export interface RuntimeInit {
  decoded: DecodedTaskMessage;
  queue: string;
  hostname: string;
  redelivered: boolean;
  signal: AbortSignal;
  backend: ResultBackend | undefined;
  expiresMs: number;
}

export function createTaskContext(init: RuntimeInit): TaskContext {
  const { decoded } = init;
  const updateState = async (state: string, meta: JsonObject = {}): Promise<void> => {
    if (!init.backend) return;
    await init.backend.store(
      buildMeta({ taskId: decoded.id, parentId: decoded.parentId, groupId: decoded.groupId }, state, meta),
      { expiresMs: init.expiresMs },
    );
  };
  return {
    id: decoded.id,
    name: decoded.name,
    retries: decoded.retries,
    args: decoded.args,
    kwargs: decoded.kwargs,
    queue: init.queue,
    rootId: decoded.rootId,
    parentId: decoded.parentId,
    groupId: decoded.groupId,
    hostname: init.hostname,
    redelivered: init.redelivered,
    signal: init.signal,
    updateState,
    progress(current: number, total?: number, info: Record<string, unknown> = {}) {
      const progress: Progress = { ...info, current };
      if (total !== undefined) {
        progress.total = total;
        progress.percent = total > 0 ? Math.round((current / total) * 1000) / 10 : 100;
      }
      return updateState('PROGRESS', progress as unknown as Record<string, JsonValue>);
    },
    retry(options: RetryOptions = {}): never {
      throw new Retry(options);
    },
  };
}
