/**
 * `chord(header, body)`: the header's members run in parallel; when the last one settles,
 * the body gets their results in header order. The fan-in is the backend's chord join
 * (atomic; a part counted once however often its task is delivered). Policies: `fail`
 * (Celery's: any failed, revoked or expired header task fails the body with ChordError)
 * or `settled` (the body gets every outcome, as `Promise.allSettled` gives them).
 */
import { AsyncResult, type GroupResult } from '../app/async-result.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import {
  CanvasSignature,
  celeryOptions,
  freezeJson,
  resultIdOf,
  type CanvasApp,
  type SignatureOptions,
} from './canvas-signature.js';
import { sendWorkflow } from './workflow.js';
import type {
  Accepts,
  CanvasArgs,
  CanvasResult,
  ChainMismatch,
  ResultsOf,
} from './canvas-types.js';
import type { AnyCanvas } from './chain.js';
import { Group, groupResultOf } from './group.js';
import { CeleriacError } from '../errors.js';

/** How the body treats header tasks that did not succeed. */
export type ChordPolicy = 'fail' | 'settled';

/** One header outcome under the `settled` policy. */
export type SettledResult<T> =
  | { status: 'fulfilled'; value: T }
  | { status: 'rejected'; reason: JsonValue; task_id: string; state: string };

export type SettledResults<T extends unknown[]> = { -readonly [K in keyof T]: SettledResult<T[K]> };

export interface ChordOptions extends SignatureOptions {
  /**
   * `fail` (default, Celery's): a header task that fails, is revoked or expires fails the
   * body with ChordError naming it. `settled`: the body always runs, with every outcome.
   */
  policy?: ChordPolicy | undefined;
  /**
   * Seconds after sending by which every header slot must be settled: the slots still open
   * then are settled as failed (ChordError "deadline passed"), so the body runs (`settled`)
   * or fails (`fail`) instead of waiting for a task that may never report (a lost message, a
   * queue no worker consumes). A header task that ends later is ignored. `false`: none.
   * @default from the header's time limits: twice the time the header tasks would take one
   * after another at their `timeLimit` (or `softTimeLimit`) plus countdowns, at least 5 s;
   * none when a header task has no time limit.
   * @example chord(header, body, { deadline: 600 })
   */
  deadline?: number | false | undefined;
}

export class Chord<
  TArgs extends unknown[],
  TResult,
  THeader extends unknown[] = unknown[],
> extends CanvasSignature<TArgs, TResult, false> {
  constructor(
    app: CanvasApp,
    readonly header: Group<TArgs, unknown[]>,
    readonly body: AnyCanvas,
    readonly options: ChordOptions = {},
  ) {
    super(app, false);
  }

  toJSON(): SignatureJson {
    const { policy, deadline, ...options } = this.options;
    const body = this.body.toJSON();
    if (policy === 'settled') body.options = { ...body.options, chord_policy: 'settled' };
    const json = celeryOptions(options);
    if (deadline !== undefined) json.chord_deadline = deadline;
    return {
      task: 'celery.chord',
      args: [],
      kwargs: { header: this.header.toJSON(), body, kwargs: {} },
      options: json,
      subtask_type: 'chord',
      immutable: false,
    };
  }

  /** Sends the header; the handle is the body's, its `parent` the header's GroupResult. */
  async applyAsync(
    args: TArgs,
    options: SignatureOptions = {},
  ): Promise<AsyncResult<TResult, GroupResult<THeader>>> {
    const json = freezeJson(this.toJSON());
    Object.assign(json.options, celeryOptions(options));
    const rootId = await sendWorkflow(this.app, json, args as JsonValue[]);
    const header = groupResultOf<THeader>(this.app, json.kwargs.header as SignatureJson);
    header.rootId = rootId;
    const result = new AsyncResult<TResult, GroupResult<THeader>>(
      resultIdOf(json),
      this.app,
      header,
    );
    result.rootId = rootId;
    return result;
  }

  delay(...args: TArgs): Promise<AsyncResult<TResult, GroupResult<THeader>>> {
    return this.applyAsync(args);
  }
}

export type HeaderResults<H> =
  H extends Group<unknown[], infer R> ? R : H extends readonly unknown[] ? ResultsOf<H> : never;
export type HeaderArgs<H> =
  H extends Group<infer A, unknown[]>
    ? A
    : H extends readonly [infer F, ...unknown[]]
      ? CanvasArgs<F>
      : H extends readonly (infer T)[]
        ? CanvasArgs<T>
        : never;
export type BodyFor<B, Results> = Accepts<B, Results> extends true ? B : ChainMismatch<Results, B>;

/**
 * Runs the header in parallel, then the body with the array of header results in header
 * order (with `policy: 'settled'`, the array of each outcome).
 * @example
 * const total = await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).delay(); // tsum([2, 4])
 */
export function chord<
  const H extends readonly AnyCanvas[] | Group<unknown[], unknown[]>,
  B extends AnyCanvas,
>(
  header: H,
  body: B & BodyFor<B, HeaderResults<H>>,
  options?: ChordOptions & { policy?: 'fail' | undefined },
): Chord<HeaderArgs<H>, CanvasResult<B>, ArrayOf<HeaderResults<H>>>;
export function chord<
  const H extends readonly AnyCanvas[] | Group<unknown[], unknown[]>,
  B extends AnyCanvas,
>(
  header: H,
  body: B & BodyFor<B, SettledResults<HeaderResults<H> & unknown[]>>,
  options: ChordOptions & { policy: 'settled' },
): Chord<HeaderArgs<H>, CanvasResult<B>, ArrayOf<HeaderResults<H>>>;
export function chord(
  header: readonly AnyCanvas[] | Group<unknown[], unknown[]>,
  body: AnyCanvas,
  options: ChordOptions = {},
): Chord<unknown[], unknown> {
  const app = body.app;
  if (!app) throw new CeleriacError('chord() needs a body signature.');
  const group = header instanceof Group ? header : new Group<unknown[], unknown[]>(app, header);
  return new Chord(app, group, body, options);
}

/** `T` when it is an array type (a header's results always are). */
export type ArrayOf<T> = T extends unknown[] ? T : never;
