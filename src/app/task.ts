/**
 * Tasks as a user holds them: a name plus typed `delay` / `applyAsync`. A `TaskRef` can
 * only be sent (a task defined elsewhere, maybe in Python, declared by name with its
 * types); a `Task` is also registered here and can be run by a worker of this app.
 */
import type { AsyncResult } from './async-result.js';
import type { TaskContext } from './task-context.js';
import type { ApplyOptions, TaskOptions } from './task-options.js';

/** A task's function: positional JSON arguments in, a JSON result (or its promise) out. */
export type TaskFunction<TArgs extends unknown[], TResult> = (
  this: TaskContext,
  ...args: TArgs
) => TResult | Promise<TResult>;

/** What a TaskRef needs from its app to send itself. */
export interface TaskSender {
  sendTask<TResult>(
    name: string,
    args: unknown[],
    options: ApplyOptions,
    defaults: TaskOptions,
  ): Promise<AsyncResult<TResult>>;
}

export class TaskRef<TArgs extends unknown[], TResult> {
  constructor(
    readonly name: string,
    protected readonly sender: TaskSender,
    readonly options: TaskOptions<TArgs> = {},
  ) {}

  /** Sends the task with these arguments; resolves once the broker holds the message. */
  delay(...args: TArgs): Promise<AsyncResult<TResult>> {
    return this.sender.sendTask<TResult>(this.name, args, {}, this.options);
  }

  /** Sends the task with arguments and per-call options (countdown, eta, queue, ...). */
  applyAsync(args: TArgs, options: ApplyOptions = {}): Promise<AsyncResult<TResult>> {
    return this.sender.sendTask<TResult>(this.name, args, options, this.options);
  }
}

export class Task<TArgs extends unknown[], TResult> extends TaskRef<TArgs, TResult> {
  constructor(
    name: string,
    sender: TaskSender,
    readonly run: TaskFunction<TArgs, TResult>,
    options: TaskOptions<TArgs> = {},
  ) {
    super(name, sender, options);
  }
}

/** The argument tuple of a task, for helpers that wrap tasks. */
export type ArgsOf<T> = T extends TaskRef<infer TArgs, unknown> ? TArgs : never;
/** The result type of a task. */
export type ResultOf<T> = T extends TaskRef<unknown[], infer TResult> ? TResult : never;
