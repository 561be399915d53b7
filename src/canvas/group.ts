/**
 * `group(a, b, c)`: the members run in parallel; the handle is a GroupResult whose `get()`
 * gives their results in order. Each member's message carries the group id and its index
 * (`group`, `group_index`), as Celery writes them.
 */
import { AsyncResult } from '../app/async-result.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import { groupMembers } from './apply-json.js';
import {
  CanvasSignature,
  celeryOptions,
  freezeJson,
  resultIdOf,
  taskIdOf,
  type CanvasApp,
  type SignatureOptions,
} from './canvas-signature.js';
import { sendWorkflow } from './workflow.js';
import type { CanvasArgs, CanvasResult, ResultsOf } from './canvas-types.js';
import type { AnyCanvas } from './chain.js';
import { GroupResult } from './group-result.js';
import { CeleriacError } from '../errors.js';

export class Group<TArgs extends unknown[], TResults extends unknown[]> extends CanvasSignature<
  TArgs,
  TResults,
  false
> {
  /** Phantom: marks a group for the type checker (nested groups unroll). Never set at run time. */
  declare readonly __group: TResults;

  constructor(
    app: CanvasApp,
    readonly tasks: readonly AnyCanvas[],
    readonly options: SignatureOptions = {},
  ) {
    super(app, false);
  }

  toJSON(): SignatureJson {
    return {
      task: 'celery.group',
      args: [],
      kwargs: { tasks: this.tasks.map((task) => task.toJSON()) },
      options: celeryOptions(this.options),
      subtask_type: 'group',
      immutable: false,
    };
  }

  /** Sends every member; the GroupResult is saved when the backend can keep it. */
  async applyAsync(args: TArgs, options: SignatureOptions = {}): Promise<GroupResult<TResults>> {
    const json = freezeJson(this.toJSON());
    Object.assign(json.options, celeryOptions(options));
    const rootId = await sendWorkflow(this.app, json, args as JsonValue[]);
    const result = groupResultOf<TResults>(this.app, json);
    result.rootId = rootId;
    return result;
  }

  delay(...args: TArgs): Promise<GroupResult<TResults>> {
    return this.applyAsync(args);
  }
}

export function groupResultOf<TResults extends unknown[]>(
  app: CanvasApp,
  json: SignatureJson,
): GroupResult<TResults> {
  const members = groupMembers(json).map((task) => new AsyncResult<unknown>(resultIdOf(task), app));
  return new GroupResult<TResults>(taskIdOf(json), members, app);
}

/**
 * Runs the members in parallel.
 * @example
 * const sums = await group(add.s(1, 1), add.s(2, 2)).delay(); // GroupResult<[number, number]>
 * const many = group(items.map((i) => add.s(i, i)));           // Group<[], number[]>
 */
export function group<const S extends readonly AnyCanvas[]>(
  ...tasks: S
): Group<CanvasArgs<S[0]>, ResultsOf<S>>;
export function group<T extends AnyCanvas>(
  tasks: readonly T[],
): Group<CanvasArgs<T>, CanvasResult<T>[]>;
export function group(
  ...input: Array<AnyCanvas | readonly AnyCanvas[]>
): Group<unknown[], unknown[]> {
  // group(a, b) and group([a, b]) give the same members.
  const tasks = input.flat();
  const app = tasks[0]?.app;
  if (!app) throw new CeleriacError('group() needs at least one signature.');
  return new Group(app, tasks);
}
