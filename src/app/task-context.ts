/**
 * What a running task can see and do: its ids, its retry count, an AbortSignal, progress
 * updates and explicit retries. The worker creates one per execution; tasks reach it as
 * `this` (function expressions) or through `currentTask()` (arrow functions, helpers).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JsonObject } from '../protocol/types.js';

export interface Progress {
  current: number;
  total?: number;
  /** 0..100 when `total` is known. */
  percent?: number;
  [key: string]: unknown;
}

export interface RetryOptions {
  /** Seconds to wait before the retry. @default the task's backoff for this attempt */
  countdown?: number;
  eta?: Date;
  /** Overrides the task's maxRetries for this decision. */
  maxRetries?: number;
  /** The failure that caused the retry; recorded with the RETRY state and raised when retries run out. */
  error?: unknown;
}

export interface TaskContext {
  readonly id: string;
  readonly name: string;
  /** How many times this task has been retried so far (0 on the first run). */
  readonly retries: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly queue: string;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  /** The worker's name, `celeriac@host` style. */
  readonly hostname: string;
  /** True when the broker delivered this message before (the task may have run partly). */
  readonly redelivered: boolean;
  /** Aborts on soft time limit (SoftTimeLimitExceededError), revoke with terminate, and forced shutdown. */
  readonly signal: AbortSignal;
  /** Publishes a PROGRESS state that callers see live. */
  progress(current: number, total?: number, info?: Record<string, unknown>): Promise<void>;
  /** Publishes any state with a JSON meta (Celery's `update_state`). */
  updateState(state: string, meta?: JsonObject): Promise<void>;
  /**
   * Schedules this task again and ends the current run (it throws, like Celery's
   * `raise self.retry()`; TypeScript knows the code after it does not run).
   */
  retry(options?: RetryOptions): never;
}

const storage = new AsyncLocalStorage<TaskContext>();

/**
 * The context of the task whose synchronous part is running now, for a task run without
 * entering the AsyncLocalStorage (runTaskCall). Read before the storage: while it is set,
 * no other task's code can be running.
 */
let syncContext: TaskContext | undefined;

/** Runs in the storage (entered) now, until their result settles. */
let entered = 0;

/** Runs `fn(...args)` with `context` visible to `currentTask()`. For the worker. */
export function runWithContext<A extends unknown[], T>(
  context: TaskContext,
  fn: (...args: A) => T,
  ...args: A
): T {
  entered++;
  let result: T;
  try {
    result = storage.run(context, fn, ...args);
  } catch (error) {
    leave();
    throw error;
  }
  if (isThenable(result)) (result as PromiseLike<unknown>).then(leave, leave);
  else leave();
  return result;
}

/**
 * A run in the storage ended. Once none is left the storage is disabled: entering it once
 * turns on Node's async hooks, which every promise of the process pays for until then.
 */
function leave(): void {
  if (--entered === 0) storage.disable();
}

const AsyncFunction = async function () {}.constructor;
const AsyncGeneratorFunction = async function* () {}.constructor;

/** Whether a task function of this shape can continue after an await: `async` ones, and those seen returning a promise. */
const mayAwait = new WeakMap<object, boolean>();

/**
 * Calls a task's function with `context` as `this` and as `currentTask()`, as
 * `runWithContext` does, entering the AsyncLocalStorage only for a function that can go
 * on after an await: an `async` function, and a plain one until its first run returned
 * something other than a promise (a plain function seen returning a promise always
 * enters it). A plain function's run that returns a value sees its context through a
 * module variable set for the duration of the call: while no run is in the storage, it is
 * disabled, and the promises of the process do not pay Node's async hooks.
 */
export function runTaskCall(
  context: TaskContext,
  fn: (this: TaskContext, ...args: unknown[]) => unknown,
  args: unknown[],
): unknown {
  let awaits = mayAwait.get(fn);
  if (awaits === undefined) {
    awaits = fn instanceof AsyncFunction || fn instanceof AsyncGeneratorFunction;
    if (awaits) mayAwait.set(fn, true);
    else {
      // First run of a plain function: in the storage, and it decides the later ones.
      const result = runWithContext(context, callWith, context, fn, args);
      mayAwait.set(fn, isThenable(result));
      return result;
    }
  }
  if (awaits) return runWithContext(context, callWith, context, fn, args);
  const previous = syncContext;
  syncContext = context;
  let result: unknown;
  try {
    result = fn.apply(context, args);
  } finally {
    syncContext = previous;
  }
  // It returned a promise after all: its later runs enter the storage (this one's code
  // after its first await cannot see currentTask(); `this` still works).
  if (isThenable(result)) mayAwait.set(fn, true);
  return result;
}

function callWith(
  context: TaskContext,
  fn: (this: TaskContext, ...args: unknown[]) => unknown,
  args: unknown[],
): unknown {
  return fn.apply(context, args);
}

function isThenable(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The context of the task running in this async call chain. Throws outside a task. */
export function currentTask(): TaskContext {
  const context = syncContext ?? storage.getStore();
  if (!context) throw new Error('currentTask() was called outside a running task.');
  return context;
}

/** Thrown by `ctx.retry()`; the worker turns it into a new message and a RETRY state. */
export class Retry extends Error {
  constructor(
    readonly options: RetryOptions,
    message = 'Retry requested',
  ) {
    super(message);
    this.name = 'Retry';
  }
}
