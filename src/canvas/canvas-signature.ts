/**
 * The base every canvas element shares (a task signature, a chain, a group, a chord): what
 * it serialises to (Celery's signature JSON, so Python workers read it) and the phantom
 * types the chain check reads. Options are turned into Celery's option names here, once.
 */
import { randomUUID } from 'node:crypto';
import type { ResultHost } from '../app/async-result.js';
import type { ApplyOptions, SignatureLike } from '../app/task-options.js';
import type { JsonObject, JsonValue, SignatureJson } from '../protocol/types.js';
import type { CanvasHost } from './apply-json.js';
import { signatureList } from './apply-json.js';

/** What a canvas element needs of its app (a `Celeriac` is one). */
export type CanvasApp = CanvasHost & ResultHost;

/** Per-signature options: those of `applyAsync`, less the ids a workflow sets itself. */
export type SignatureOptions = Omit<
  ApplyOptions,
  'embed' | 'retries' | 'parentId' | 'rootId' | 'groupId' | 'groupIndex'
>;

export abstract class CanvasSignature<
  TArgs extends unknown[],
  TResult,
  TImmutable extends boolean = false,
> implements SignatureLike {
  /** Phantom: the arguments still to give. Never set at run time. */
  declare readonly __args?: TArgs;
  /** Phantom: the result. Never set at run time. */
  declare readonly __result?: TResult;

  constructor(
    /** The app it is sent through. */
    readonly app: CanvasApp,
    /** Immutable signatures ignore the previous result in a chain (Celery's `si()`). */
    readonly immutable: TImmutable,
  ) {}

  /** Celery's signature JSON, with every id the workflow needs assigned (Celery's `freeze`). */
  abstract toJSON(): SignatureJson;
}

/** Celery's option names for what a signature carries. */
export function celeryOptions(options: SignatureOptions): JsonObject {
  const out: JsonObject = {};
  const set = (key: string, value: JsonValue | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('task_id', options.taskId);
  set('queue', options.queue);
  set('countdown', options.countdown);
  set('eta', options.eta?.toISOString());
  set('expires', options.expires instanceof Date ? options.expires.toISOString() : options.expires);
  set('priority', options.priority);
  set('soft_time_limit', options.softTimeLimit);
  set('time_limit', options.timeLimit);
  set('ignore_result', options.ignoreResult);
  set('shadow', options.shadow);
  // Celeriac's own names (a Celery worker ignores them): the flow step reads them back.
  set('celeriac_idempotency_key', options.idempotencyKey);
  set('celeriac_idempotency_window', options.idempotencyWindow);
  if (options.flow) out.celeriac_flow = JSON.parse(JSON.stringify(options.flow)) as JsonObject;
  if (options.headers) out.headers = { ...options.headers };
  const link = toList(options.link);
  if (link.length) out.link = link.map((sig) => sig.toJSON());
  const linkError = toList(options.linkError);
  if (linkError.length) out.link_error = linkError.map((sig) => sig.toJSON());
  return out;
}

function toList(value: SignatureLike | readonly SignatureLike[] | undefined): SignatureLike[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as readonly SignatureLike[])] : [value as SignatureLike];
}

/**
 * Assigns every task id a workflow's results are known by before anything is sent (Celery's
 * `freeze`): plain tasks, a group's id and members, a chord's group and body. Returns the
 * same tree (mutated copies made by `toJSON`). `newId` makes each missing id, in a fixed
 * order of the tree: a caller that must give the same tree the same ids every time (a
 * send repeated after a crash) passes ids derived from a seed.
 */
export function freezeJson(sig: SignatureJson, newId: () => string = randomUUID): SignatureJson {
  switch (sig.subtask_type) {
    case 'chain':
      for (const task of signatureList(sig.kwargs.tasks)) freezeJson(task, newId);
      return sig;
    case 'group':
      sig.options.task_id ??= newId();
      for (const task of signatureList(sig.kwargs.tasks)) freezeJson(task, newId);
      return sig;
    case 'chord': {
      const header = sig.kwargs.header;
      if (typeof header === 'object' && header !== null && !Array.isArray(header))
        freezeJson(header as SignatureJson, newId);
      for (const body of signatureList(sig.kwargs.body)) freezeJson(body, newId);
      return sig;
    }
    case null:
    default:
      sig.options.task_id ??= newId();
      return sig;
  }
}

/** The id a frozen element's result is known by: a chain's last task, a chord's body. */
export function resultIdOf(sig: SignatureJson): string {
  switch (sig.subtask_type) {
    case 'chain': {
      const tasks = signatureList(sig.kwargs.tasks);
      return resultIdOf(tasks[tasks.length - 1]!);
    }
    case 'chord':
      return resultIdOf(signatureList(sig.kwargs.body)[0]!);
    case null:
    default:
      return taskIdOf(sig);
  }
}

/** The task id a frozen signature carries in its options. */
export function taskIdOf(sig: SignatureJson): string {
  const id = sig.options.task_id;
  if (typeof id !== 'string') throw new TypeError(`signature of ${sig.task} has no task id yet`);
  return id;
}
