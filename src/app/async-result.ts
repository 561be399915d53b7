/**
 * Handles on sent work: `AsyncResult` (one task: read its state, wait for its result, woken
 * by the backend's push, not by polling here, follow its progress live, forget or revoke
 * it) and `GroupResult` (a group's members), linked as Celery links them: `parent` (the
 * previous task of a chain, a chord's header) and `children` (what a task's completion
 * sent, read from its stored meta; a group's members). In one file because each makes the
 * other from Celery's result tuples.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { ResultMeta, TaskState } from '../protocol/types.js';
import { READY_STATES } from '../protocol/types.js';
import { deserializeError, type RemoteTaskError } from '../protocol/result-meta.js';
import type { SerializedError } from '../protocol/types.js';
import type { JsonValue } from '../protocol/types.js';
import {
  CeleriacError,
  TaskNotRegisteredError,
  TaskRevokedError,
  TimeoutError,
} from '../errors.js';
import type { Progress } from './task-context.js';
import { Workflow } from '../canvas/workflow.js';

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

/** A child of a result as Celery stores it in `children`: a task's, or a group's. */
export type ChildResult = AsyncResult<unknown> | GroupResult<unknown[]>;

export class AsyncResult<
  TResult = unknown,
  TParent extends ResultHandle | undefined = ResultHandle | undefined,
> implements ResultHandle {
  /**
   * The result this one follows in a workflow, when this handle was made by sending that
   * workflow: a chain's result has the previous task's (`AsyncResult`), a chord's the
   * header's `GroupResult`. A handle made from an id alone reads it back with
   * {@link parentResult}.
   */
  parent: TParent;
  /**
   * The root of the workflow this handle was made by sending (its first task's id): what
   * `workflow(app, rootId)` reads back and revokes.
   */
  rootId: string | undefined;

  constructor(
    readonly id: string,
    private readonly host: ResultHost,
    parent?: TParent,
  ) {
    this.parent = parent as TParent;
  }

  /**
   * The results this task's completion sent (its callbacks, the next task of its chain), as
   * its worker stored them in the meta's `children` (Celery's field, written by Python
   * workers too). Empty while the task has not finished.
   */
  async children(): Promise<ChildResult[]> {
    const meta = await this.meta();
    return (meta.children ?? [])
      .map((child) => resultFromTuple(child, this.host))
      .filter((child): child is ChildResult => child !== undefined);
  }

  /**
   * The parent: the one this handle was made with, else the task whose completion sent this
   * one, by the `parent_id` its meta stores (Celery's field). Undefined for a workflow's
   * first task, or while this one has not run.
   */
  async parentResult(): Promise<ResultHandle | undefined> {
    if (this.parent !== undefined) return this.parent;
    const parentId = (await this.meta()).parent_id;
    return typeof parentId === 'string' ? new AsyncResult(parentId, this.host) : undefined;
  }

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
   * When the task is the root of a workflow sent from the API (a chain, group or chord whose
   * shape is stored), every task of the workflow not yet finished is revoked with it, those
   * not yet sent included (canvas/workflow.ts).
   */
  async revoke(options: { terminate?: boolean } = {}): Promise<void> {
    const flow = new Workflow(this.host, this.id);
    if (await flow.shape()) {
      await flow.revoke(options);
      return;
    }
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

/**
 * A handle on a group's results (Celery's `GroupResult`): its id, one AsyncResult per
 * member in order (also its `children`), and `save()` / `GroupResult.restore()` through the
 * backend's `celery-taskset-meta-<id>`, in Celery's tuple form so Python's
 * `GroupResult.restore` reads it too.
 */
export class GroupResult<TResults extends unknown[] = unknown[]> implements ResultHandle {
  /** The result the group follows in a workflow (a chain's previous task), when known. */
  parent: ResultHandle | undefined;
  /** The root of the workflow this handle was made by sending (its first task's id). */
  rootId: string | undefined;

  constructor(
    readonly id: string,
    readonly results: readonly AsyncResult<unknown>[],
    private readonly host: ResultHost,
  ) {}

  /** The members' results, in order (Celery's `GroupResult.children`). */
  get children(): readonly AsyncResult<unknown>[] {
    return this.results;
  }

  /** Every member's result, in the group's order; rejects with the first failure. */
  async get(options: GetOptions & { propagate?: true | undefined } = {}): Promise<TResults> {
    return (await Promise.all(this.results.map((result) => result.get(options)))) as TResults;
  }

  /** Whether every member is ready. */
  async ready(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.ready()))).every(Boolean);
  }

  /** How many members succeeded so far. */
  async completedCount(): Promise<number> {
    return (await Promise.all(this.results.map((r) => r.successful()))).filter(Boolean).length;
  }

  /** Revokes every member. */
  async revoke(options: { terminate?: boolean } = {}): Promise<void> {
    const backend = await this.host.resultBackend();
    await backend.revoke(
      this.results.map((r) => r.id),
      options,
    );
  }

  /** Stores the group so `GroupResult.restore(app, id)` (or Python's) finds it. */
  async save(): Promise<void> {
    const backend = await this.host.resultBackend();
    if (!backend.saveGroup)
      throw new CeleriacError(`The ${backend.kind} result backend cannot save groups.`);
    await backend.saveGroup(this.id, { result: this.asTuple() });
  }

  /** The group saved under `groupId`, or undefined. */
  static async restore(host: ResultHost, groupId: string): Promise<GroupResult | undefined> {
    const backend = await host.resultBackend();
    const value = await backend.getGroup?.(groupId);
    if (value === undefined || typeof value !== 'object' || value === null || Array.isArray(value))
      return undefined;
    const restored = resultFromTuple(value.result ?? null, host);
    return restored instanceof GroupResult ? restored : undefined;
  }

  /** Celery's `as_tuple()`: `[[id, parent], [[[member, null], null], ...]]`. */
  asTuple(): JsonValue {
    return [[this.id, null], this.results.map((r) => [[r.id, null], null])];
  }

  toJSON(): { id: string; results: { id: string }[] } {
    return { id: this.id, results: this.results.map((r) => ({ id: r.id })) };
  }
}

/**
 * Celery's `result_from_tuple`: `[[id, parent], null]` is a task's result, `[[id, parent],
 * [members...]]` a group's; `parent` is a tuple of the same form, or null. Undefined for
 * anything else.
 */
export function resultFromTuple(tuple: JsonValue, host: ResultHost): ChildResult | undefined {
  if (!Array.isArray(tuple)) return undefined;
  const [head, members] = tuple;
  if (!Array.isArray(head) || typeof head[0] !== 'string') return undefined;
  const parent =
    head[1] === null || head[1] === undefined ? undefined : resultFromTuple(head[1], host);
  if (Array.isArray(members)) {
    const results = members
      .map((member) => resultFromTuple(member, host))
      .filter((r): r is AsyncResult<unknown> => r instanceof AsyncResult);
    const group = new GroupResult(head[0], results, host);
    group.parent = parent;
    return group;
  }
  return new AsyncResult<unknown>(head[0], host, parent);
}
