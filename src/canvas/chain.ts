/**
 * `chain(a, b, c)`: each task gets the previous one's result as its first argument (unless
 * immutable), sent one after another by the workers: the first task carries the rest,
 * reversed, in its message's `chain`, as Celery does. Checked at compile time: an element
 * that does not take the previous result does not compile.
 */
import { AsyncResult, type ResultHandle } from '../app/async-result.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import { signatureList } from './apply-json.js';
import {
  CanvasSignature,
  celeryOptions,
  freezeJson,
  resultIdOf,
  type CanvasApp,
  type SignatureOptions,
} from './canvas-signature.js';
import { sendWorkflow } from './workflow.js';
import type { CanvasArgs, CanvasResult, CheckedChain, GroupLike, LastOf } from './canvas-types.js';
import { groupResultOf } from './group.js';
import type { GroupResult } from '../app/async-result.js';
import { CeleriacError } from '../errors.js';

/** Any canvas element, as chains, groups and chords hold them. */
export type AnyCanvas = CanvasSignature<unknown[], unknown, boolean>;

export class Chain<
  TArgs extends unknown[],
  TResult,
  TParent extends ResultHandle | undefined = ResultHandle | undefined,
> extends CanvasSignature<TArgs, TResult, false> {
  constructor(
    app: CanvasApp,
    readonly tasks: readonly AnyCanvas[],
    readonly options: SignatureOptions = {},
  ) {
    super(app, false);
  }

  toJSON(): SignatureJson {
    return {
      task: 'celery.chain',
      args: [],
      kwargs: { tasks: this.tasks.map((task) => task.toJSON()) },
      options: celeryOptions(this.options),
      subtask_type: 'chain',
      immutable: false,
    };
  }

  /**
   * Sends the first task (the rest follow from the workers); the handle is the last task's,
   * with `parent` leading back through the chain.
   */
  async applyAsync(
    args: TArgs,
    options: SignatureOptions = {},
  ): Promise<AsyncResult<TResult, TParent>> {
    const json = freezeJson(this.toJSON());
    Object.assign(json.options, celeryOptions(options));
    const rootId = await sendWorkflow(this.app, json, args as JsonValue[]);
    const result = chainResult(this.app, signatureList(json.kwargs.tasks));
    result.rootId = rootId;
    return result as AsyncResult<TResult, TParent>;
  }

  delay(...args: TArgs): Promise<AsyncResult<TResult, TParent>> {
    return this.applyAsync(args);
  }
}

/** The last element's handle, each `parent` the element before it. */
function chainResult(app: CanvasApp, tasks: SignatureJson[]): AsyncResult<unknown> {
  let parent: AsyncResult<unknown> | GroupResult<unknown[]> | undefined;
  for (const task of tasks) {
    if (task.subtask_type === 'group') {
      const members = groupResultOf<unknown[]>(app, task);
      members.parent = parent;
      parent = members;
    } else {
      parent = new AsyncResult<unknown>(resultIdOf(task), app, parent);
    }
  }
  return parent as AsyncResult<unknown>;
}

/** The handle of one element's outcome: a group's GroupResult, else an AsyncResult. */
export type ElementResult<E> =
  E extends GroupLike<infer R> ? GroupResult<R> : AsyncResult<CanvasResult<E>>;

/** A chain's result's parent: the previous element's handle, none for a chain of one. */
export type ChainParent<S extends readonly unknown[]> = S extends readonly [unknown]
  ? undefined
  : S extends readonly [...infer Init, unknown]
    ? ElementResult<LastOf<Init>>
    : ResultHandle | undefined;

/**
 * Runs the elements one after another, each given the previous result.
 * @example
 * const total = await chain(add.s(1, 2), add.s(3), mul.s(10)).delay(); // (1 + 2 + 3) * 10
 */
export function chain<const S extends readonly [AnyCanvas, ...AnyCanvas[]]>(
  ...tasks: S & CheckedChain<S>
): Chain<CanvasArgs<S[0]>, CanvasResult<LastOf<S>>, ChainParent<S>> {
  const first: AnyCanvas | undefined = tasks[0];
  const app = first?.app;
  if (!app) throw new CeleriacError('chain() needs at least one signature.');
  return new Chain(app, tasks);
}
