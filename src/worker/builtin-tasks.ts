/**
 * Celery's built-in canvas tasks, so a worker runs what `task.map()`, `task.starmap()` and
 * `task.chunks()` send (from Python or from us): `celery.map` and `celery.starmap` call a
 * task registered here once per item, in this run, and return the list of results;
 * `celery.chunks` sends its items as a group of `celery.starmap` tasks. Looked up only
 * when a message names no registered task, so registered names always win.
 */
import type { Celeriac } from '../app/celeriac.js';
import { currentTask } from '../app/task-context.js';
import { Task } from '../app/task.js';
import type { JsonValue, SignatureJson } from '../protocol/types.js';
import { applySignatureJson, isSignature } from '../canvas/apply-json.js';
import { chunksJson } from '../canvas/map.js';
import { ChordError, TaskNotRegisteredError } from '../errors.js';
import { serializeError } from '../protocol/result-meta.js';
import type { Logger } from '../logger.js';
import { settleSlot } from './canvas-followups.js';

const QUIET: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

type Builtin = Task<unknown[], unknown>;
/** Slots a chord deadline settles at once. */
const DEADLINE_BATCH = 100;
const made = new WeakMap<Celeriac, Map<string, Builtin>>();

/** The built-in task of that name for this app, or undefined. */
export function builtinTask(app: Celeriac, name: string): Builtin | undefined {
  if (
    name !== 'celery.map' &&
    name !== 'celery.starmap' &&
    name !== 'celery.chunks' &&
    name !== 'celeriac.chord_deadline'
  )
    return undefined;
  let tasks = made.get(app);
  if (!tasks) made.set(app, (tasks = makeBuiltins(app)));
  return tasks.get(name);
}

function makeBuiltins(app: Celeriac): Map<string, Builtin> {
  const inline = (star: boolean) => async (sig: JsonValue, it: JsonValue) => {
    const target = signatureOf(sig);
    const task = app.getTask(target.task);
    // Celery runs the items in the worker that got the map: the task must be known here.
    if (!task) throw new TaskNotRegisteredError(target.task);
    const context = currentTask();
    const results: unknown[] = [];
    for (const item of listOf(it)) {
      const args = star ? listOf(item) : [item];
      results.push(await task.run.apply(context, [...args, ...target.args]));
    }
    return results;
  };
  const chunks = async (sig: JsonValue, it: JsonValue, n: JsonValue) => {
    const json = chunksJson(signatureOf(sig), listOf(it).map(listOf), Number(n));
    await applySignatureJson(app, json, {});
    return null;
  };
  const deadline = async (
    groupId: JsonValue,
    body: JsonValue,
    slots: JsonValue,
    seconds: JsonValue,
  ) => {
    const backend = await app.resultBackend();
    const context = currentTask();
    const deps = { app, backend, logger: QUIET, storeOptions: {} };
    const settleOne = async (slot: JsonValue): Promise<boolean> => {
      const [id, index] = listOf(slot);
      const taskId = typeof id === 'string' ? id : `deadline:${text(groupId)}:${text(index)}`;
      const error = new ChordError(
        `the chord's deadline of ${text(seconds)} s passed before header task ${taskId} settled`,
        [taskId],
      );
      const part = {
        taskId,
        index: typeof index === 'number' ? index : null,
        state: 'FAILURE',
        result: serializeError(error),
      };
      return settleSlot(text(groupId), part, signatureOf(body), context.rootId ?? context.id, deps);
    };
    // A slot whose part is recorded, or a join already cleared, costs one call and writes
    // nothing; a large header is settled a batch of calls at a time.
    const all = listOf(slots);
    let completed = 0;
    for (let i = 0; i < all.length; i += DEADLINE_BATCH)
      completed += (await Promise.all(all.slice(i, i + DEADLINE_BATCH).map(settleOne))).filter(
        Boolean,
      ).length;
    return completed;
  };
  const options = { params: ['task', 'it', 'n'] };
  return new Map<string, Builtin>([
    ['celery.map', new Task('celery.map', app, inline(false), options) as Builtin],
    ['celery.starmap', new Task('celery.starmap', app, inline(true), options) as Builtin],
    ['celery.chunks', new Task('celery.chunks', app, chunks, options) as Builtin],
    ['celeriac.chord_deadline', new Task('celeriac.chord_deadline', app, deadline) as Builtin],
  ]);
}

function signatureOf(value: JsonValue): SignatureJson {
  if (!isSignature(value)) throw new TypeError('the `task` argument is not a signature');
  return value;
}

function listOf(value: JsonValue): JsonValue[] {
  if (!Array.isArray(value)) throw new TypeError(`expected a list, got ${JSON.stringify(value)}`);
  return value;
}

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}
