/**
 * Tasks as a user holds them: a name plus typed `delay` / `applyAsync`. A `TaskRef` can
 * only be sent (a task defined elsewhere, maybe in Python, declared by name with its
 * types); a `Task` is also registered here and can be run by a worker of this app.
 */
import type { AsyncResult, ResultHost } from './async-result.js';
import { Signature } from '../canvas/signature.js';
import { ChunksSignature, MapSignature } from '../canvas/map.js';
import type { JsonValue } from '../protocol/types.js';
import type { DropArgs, PrefixOf } from '../canvas/canvas-types.js';
import type { SignatureOptions } from '../canvas/canvas-signature.js';
import type { TaskContext } from './task-context.js';
import type { ApplyOptions, TaskOptions } from './task-options.js';

/** A task's function: positional JSON arguments in, a JSON result (or its promise) out. */
export type TaskFunction<TArgs extends unknown[], TResult> = (
  this: TaskContext,
  ...args: TArgs
) => TResult | Promise<TResult>;

/** What a TaskRef needs from its app to send itself (and its signatures, their results). */
export interface TaskSender extends ResultHost {
  sendTask<TResult>(
    name: string,
    args: unknown[],
    options: ApplyOptions,
    defaults?: TaskOptions,
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

  /**
   * A signature with some of the arguments (Celery's `task.s()`); the rest come when it is
   * sent, or from the previous task's result in a chain.
   * @example chain(add.s(1, 2), add.s(10)) // 1 + 2, then 3 + 10
   */
  s<P extends PrefixOf<TArgs>>(...args: P): Signature<DropArgs<TArgs, P['length']>, TResult> {
    return new Signature(this.sender, this.name, args, {}, false, this.options);
  }

  /**
   * An immutable signature with every argument (Celery's `task.si()`): in a chain or as a
   * callback it ignores the previous result.
   */
  si(...args: TArgs): Signature<[], TResult, true> {
    return new Signature(this.sender, this.name, args, {}, true, this.options);
  }

  /**
   * One task that runs this task for each item, in one worker run (Celery's `task.map()`):
   * the worker must have this task registered. Its result is the list of results.
   * @example await tsum.map([[1, 2], [3, 4]]).delay() // [3, 7]
   */
  map(items: readonly TArgs[0][]): MapSignature<TResult> {
    return new MapSignature(this.sender, this.bare(), items as JsonValue[], false);
  }

  /** Like `map`, each item being the argument list (Celery's `task.starmap()`). */
  starmap(items: readonly TArgs[]): MapSignature<TResult> {
    return new MapSignature(this.sender, this.bare(), items as unknown as JsonValue[], true);
  }

  /**
   * The items split into `size`-long parts, each a `starmap` task, sent as a group
   * (Celery's `task.chunks()`). Its result is the list of each part's results.
   */
  chunks(items: readonly TArgs[], size: number): ChunksSignature<TResult> {
    return new ChunksSignature(this.sender, this.bare(), items as unknown as JsonValue[][], size);
  }

  private bare(): Signature<TArgs, TResult> {
    return new Signature(this.sender, this.name, [], {}, false, this.options);
  }

  /** A signature with options (Celery's `task.signature(args, **options)`). */
  signature<P extends PrefixOf<TArgs>>(
    args: P,
    options: SignatureOptions = {},
  ): Signature<DropArgs<TArgs, P['length']>, TResult> {
    return new Signature(this.sender, this.name, args, options, false, this.options);
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
