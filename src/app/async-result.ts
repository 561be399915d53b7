/**
 * A handle on a sent task: read its state, wait for its result (woken by the backend's
 * push, not by polling here), follow its progress live, forget or revoke it.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { ResultMeta, TaskState } from '../protocol/types.js';
import { READY_STATES } from '../protocol/types.js';
import { deserializeError, type RemoteTaskError } from '../protocol/result-meta.js';
import type { SerializedError } from '../protocol/types.js';
import { TaskNotRegisteredError, TaskRevokedError, TimeoutError } from '../errors.js';
import type { Progress } from './task-context.js';

/** What an AsyncResult needs from its app; kept small so results can be made anywhere. */
export interface ResultHost {
  resultBackend(): Promise<ResultBackend>;
}

export interface GetOptions {
  /** Seconds to wait before rejecting with TimeoutError. @default wait forever */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Reject when the task failed (true) or resolve with the error object (false). @default true */
  propagate?: boolean | undefined;
}

/**
 * What a failed, revoked or refused task gives `get()`: `TaskNotRegisteredError` when no
 * worker knew its name, `TaskRevokedError` when it was revoked or expired, else the task's
 * own error as a `RemoteTaskError` (its `name` is the class the task threw).
 */
export type TaskFailure = RemoteTaskError | TaskNotRegisteredError | TaskRevokedError | Error;

/** A handle on one task's or one group's outcome, as `parent` links them in a workflow. */
export interface ResultHandle {
  readonly id: string;
  get(options?: GetOptions): Promise<unknown>;
}

export class AsyncResult<TResult = unknown> implements ResultHandle {
  /**
   * The result this one follows in a workflow (the previous task of a chain, a chord's
   * header group), when this handle was made by sending that workflow.
   */
  parent: ResultHandle | undefined;

  constructor(
    readonly id: string,
    private readonly host: ResultHost,
  ) {}

  /** The stored meta, or a PENDING one when the backend knows nothing of the task yet. */
  async meta(): Promise<ResultMeta> {
    const backend = await this.host.resultBackend();
    return (await backend.get(this.id)) ?? pendingMeta(this.id);
  }

  async state(): Promise<TaskState> {
    return (await this.meta()).status;
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state());
  }

  async successful(): Promise<boolean> {
    return (await this.state()) === 'SUCCESS';
  }

  async failed(): Promise<boolean> {
    return (await this.state()) === 'FAILURE';
  }

  /** The last progress the task reported, while it is in the PROGRESS state. */
  async progress(): Promise<Progress | undefined> {
    return progressOf(await this.meta());
  }

  /**
   * Waits for the task to finish and returns its result; rejects with its error (a
   * {@link TaskFailure}), or with `propagate: false` resolves with that error instead.
   */
  get(options?: GetOptions & { propagate?: true | undefined }): Promise<TResult>;
  get(options: GetOptions & { propagate: false }): Promise<TResult | TaskFailure>;
  get(options: GetOptions): Promise<TResult | TaskFailure>;
  async get(options: GetOptions = {}): Promise<TResult | TaskFailure> {
    const meta = await this.waitReady(options);
    return settle<TResult>(meta, options.propagate ?? true);
  }

  /**
   * Every state change from now until the task is ready, the current one first.
   * Ends after yielding a ready state (SUCCESS, FAILURE, REVOKED).
   */
  async *updates(options: { signal?: AbortSignal } = {}): AsyncGenerator<ResultMeta> {
    const backend = await this.host.resultBackend();
    const queue: ResultMeta[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = await backend.subscribe(this.id, (meta) => {
      queue.push(meta);
      wake?.();
    });
    const onAbort = () => wake?.();
    options.signal?.addEventListener('abort', onAbort);
    try {
      let last = (await backend.get(this.id)) ?? pendingMeta(this.id);
      yield last;
      while (!READY_STATES.has(last.status) && !options.signal?.aborted) {
        const next = queue.shift();
        if (!next) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (sameMeta(next, last)) continue;
        last = next;
        yield next;
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await unsubscribe();
    }
  }

  /** Deletes the stored state and result. */
  async forget(): Promise<void> {
    const backend = await this.host.resultBackend();
    await backend.forget([this.id]);
  }

  /**
   * Asks workers not to run the task; with `terminate`, a running task's AbortSignal fires.
   */
  async revoke(options: { terminate?: boolean } = {}): Promise<void> {
    const backend = await this.host.resultBackend();
    await backend.revoke([this.id], options);
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  private async waitReady(options: GetOptions): Promise<ResultMeta> {
    const controller = new AbortController();
    const timer =
      options.timeout === undefined
        ? undefined
        : setTimeout(() => controller.abort(), options.timeout * 1000);
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort);
    try {
      let last: ResultMeta | undefined;
      for await (const meta of this.updates({ signal: controller.signal })) last = meta;
      if (last && READY_STATES.has(last.status)) return last;
      if (options.signal?.aborted) throw options.signal.reason;
      throw new TimeoutError(
        `Waiting for the result of task ${this.id}`,
        (options.timeout ?? 0) * 1000,
      );
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

export function pendingMeta(taskId: string): ResultMeta {
  return {
    status: 'PENDING',
    result: null,
    traceback: null,
    children: [],
    date_done: null,
    task_id: taskId,
  };
}

export function progressOf(meta: ResultMeta): Progress | undefined {
  if (meta.status !== 'PROGRESS') return undefined;
  const result = meta.result;
  if (
    result &&
    typeof result === 'object' &&
    !Array.isArray(result) &&
    typeof result.current === 'number'
  ) {
    return result as Progress;
  }
  return undefined;
}

/** Turns a ready meta into the task's result, or its error (thrown when `propagate`). */
export function settle<TResult>(meta: ResultMeta, propagate: boolean): TResult | TaskFailure {
  if (meta.status === 'SUCCESS') return meta.result as TResult;
  const error = failureOf(meta);
  if (propagate) throw error;
  return error;
}

function failureOf(meta: ResultMeta): TaskFailure {
  const result = meta.result;
  if (!isSerializedError(result)) {
    return meta.status === 'REVOKED'
      ? new TaskRevokedError(meta.task_id)
      : new Error(`Task ${meta.task_id} ended in state ${meta.status}`);
  }
  if (result.exc_type === 'NotRegistered') {
    // Celery's NotRegistered carries the unknown name as its only argument.
    const [name] = Array.isArray(result.exc_message) ? result.exc_message : [result.exc_message];
    return new TaskNotRegisteredError(
      typeof name === 'string' ? name : JSON.stringify(name ?? null),
    );
  }
  return deserializeError(result, meta.traceback);
}

function isSerializedError(value: unknown): value is SerializedError {
  return typeof value === 'object' && value !== null && 'exc_type' in value;
}

function sameMeta(a: ResultMeta, b: ResultMeta): boolean {
  return a.status === b.status && JSON.stringify(a.result) === JSON.stringify(b.result);
}
