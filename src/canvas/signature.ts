/**
 * A task signature: a task, some of its arguments and its options, not yet sent (Celery's
 * `task.s()` / `task.si()`). Partial arguments are typed: `add.s(1)` of `(a, b)` is a
 * signature that takes `(b)`. Sent through the same path the worker uses for follow-ups.
 */
import { AsyncResult } from '../app/async-result.js';
import type { TaskOptions } from '../app/task-options.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import { sendSignatureJson } from './apply-json.js';
import {
  CanvasSignature,
  celeryOptions,
  freezeJson,
  taskIdOf,
  type CanvasApp,
  type SignatureOptions,
} from './canvas-signature.js';
import type { SignatureLike } from '../app/task-options.js';

export class Signature<
  TArgs extends unknown[] = unknown[],
  TResult = unknown,
  TImmutable extends boolean = false,
> extends CanvasSignature<TArgs, TResult, TImmutable> {
  constructor(
    app: CanvasApp,
    readonly name: string,
    readonly args: readonly unknown[],
    readonly options: SignatureOptions,
    immutable: TImmutable,
    /** The task's registered options (queue, time limits, priority), carried in the JSON. */
    readonly defaults: TaskOptions = {},
  ) {
    super(app, immutable);
  }

  /** A copy with these options merged over the signature's own. */
  set(options: SignatureOptions): Signature<TArgs, TResult, TImmutable> {
    return new Signature(
      this.app,
      this.name,
      this.args,
      { ...this.options, ...options },
      this.immutable,
      this.defaults,
    );
  }

  /** A copy that also sends `callback` with this task's result when it succeeds. */
  link(callback: SignatureLike): Signature<TArgs, TResult, TImmutable> {
    return this.set({ link: [...listOf(this.options.link), callback] });
  }

  /** A copy that also sends `errback` with this task's id when it fails. */
  linkError(errback: SignatureLike): Signature<TArgs, TResult, TImmutable> {
    return this.set({ linkError: [...listOf(this.options.linkError), errback] });
  }

  toJSON(): SignatureJson {
    const d = this.defaults;
    const options = celeryOptions({
      queue: d.queue,
      priority: d.priority,
      softTimeLimit: d.softTimeLimit,
      timeLimit: d.timeLimit,
      ignoreResult: d.ignoreResult,
      expires: d.expires,
      ...stripUndefined(this.options),
    });
    return {
      task: this.name,
      args: [...this.args] as JsonValue[],
      kwargs: (this.options.kwargs ?? {}) as { [key: string]: JsonValue },
      options,
      subtask_type: null,
      immutable: this.immutable,
    };
  }

  /** Sends the task with the remaining arguments; resolves once the broker holds it. */
  async applyAsync(args: TArgs, options: SignatureOptions = {}): Promise<AsyncResult<TResult>> {
    const json = freezeJson(this.set(options).toJSON());
    const sent = await sendSignatureJson(this.app, json, { args: args as JsonValue[] });
    return new AsyncResult<TResult>(sent ?? taskIdOf(json), this.app);
  }

  delay(...args: TArgs): Promise<AsyncResult<TResult>> {
    return this.applyAsync(args);
  }
}

function listOf<T>(value: T | readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
}

function stripUndefined(options: SignatureOptions): SignatureOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out;
}
