/**
 * `task.map(items)`, `task.starmap(items)` and `task.chunks(items, n)` as Celery sends
 * them: one `celery.map` / `celery.starmap` task that calls the task for every item in
 * one run (on a worker that has the task), and a group of `celery.starmap` tasks of `n`
 * items each. Celeriac workers run these built-ins (worker/builtin-tasks.ts).
 */
import { AsyncResult } from '../app/async-result.js';
import type { SignatureLike } from '../app/task-options.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import { applySignatureJson } from './apply-json.js';
import {
  CanvasSignature,
  celeryOptions,
  freezeJson,
  taskIdOf,
  type CanvasApp,
  type SignatureOptions,
} from './canvas-signature.js';
import { groupResultOf } from './group.js';
import type { GroupResult } from './group-result.js';

/** The `celery.map` / `celery.starmap` signature over `items`. */
export function mapJson(
  task: SignatureJson,
  items: readonly JsonValue[],
  star: boolean,
): SignatureJson {
  return {
    task: star ? 'celery.starmap' : 'celery.map',
    args: [],
    kwargs: { task, it: [...items] },
    options: {},
    subtask_type: star ? 'xstarmap' : 'xmap',
    immutable: true,
  };
}

/** The group of `celery.starmap` tasks `task.chunks(items, n)` sends. */
export function chunksJson(
  task: SignatureJson,
  items: readonly JsonValue[][],
  size: number,
): SignatureJson {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunks() needs a chunk size of at least 1, got ${size}`);
  const tasks: SignatureJson[] = [];
  for (let i = 0; i < items.length; i += size)
    tasks.push({ ...mapJson(task, items.slice(i, i + size), true), subtask_type: null });
  return {
    task: 'celery.group',
    args: [],
    kwargs: { tasks },
    options: {},
    subtask_type: 'group',
    immutable: false,
  };
}

/** `task.map(items)` / `task.starmap(items)`: one task that runs `task` for each item. */
export class MapSignature<TResult> extends CanvasSignature<[], TResult[], true> {
  constructor(
    app: CanvasApp,
    readonly task: SignatureLike,
    readonly items: readonly JsonValue[],
    readonly star: boolean,
    readonly options: SignatureOptions = {},
  ) {
    super(app, true);
  }

  toJSON(): SignatureJson {
    const json = mapJson(this.task.toJSON(), this.items, this.star);
    json.options = celeryOptions(this.options);
    return json;
  }

  async applyAsync(
    _args: [] = [],
    options: SignatureOptions = {},
  ): Promise<AsyncResult<TResult[]>> {
    const json = freezeJson(this.toJSON());
    Object.assign(json.options, celeryOptions(options));
    await applySignatureJson(this.app, json, {});
    return new AsyncResult<TResult[]>(taskIdOf(json), this.app);
  }

  delay(): Promise<AsyncResult<TResult[]>> {
    return this.applyAsync();
  }
}

/** `task.chunks(items, n)`: a group of starmap tasks of `n` items each. */
export class ChunksSignature<TResult> extends CanvasSignature<[], TResult[][], true> {
  constructor(
    app: CanvasApp,
    readonly task: SignatureLike,
    readonly items: readonly JsonValue[][],
    readonly size: number,
  ) {
    super(app, true);
  }

  toJSON(): SignatureJson {
    return chunksJson(this.task.toJSON(), this.items, this.size);
  }

  async applyAsync(): Promise<GroupResult<TResult[][]>> {
    const json = freezeJson(this.toJSON());
    await applySignatureJson(this.app, json, {});
    return groupResultOf<TResult[][]>(this.app, json);
  }

  delay(): Promise<GroupResult<TResult[][]>> {
    return this.applyAsync();
  }
}
