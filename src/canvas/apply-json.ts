/**
 * Sends a serialised signature (Celery's `SignatureJson`, as a Python client or our own
 * canvas writes it) the way Celery's `Signature.apply_async` does: a plain task, a chain
 * (the rest travels reversed in the first task's `chain`), a group (each member with the
 * group id and its index) or a chord (the header size recorded, each header member
 * carrying the body). The one place a workflow is turned into messages, for the sender and
 * for the worker's follow-ups alike. Refuses what it cannot carry out, never sends half.
 */
import { randomUUID } from 'node:crypto';
import type { ResultBackend } from '../backends/backend.js';
import type { ApplyOptions, FlowCallOptions } from '../app/task-options.js';
import type { JsonObject, JsonValue, SignatureJson } from '../protocol/types.js';
import { ChordsNotSupportedError, UnsupportedCanvasError } from '../errors.js';

/** What applying needs of an app (a `Celeriac` is one). */
export interface CanvasHost {
  sendTask(name: string, args: unknown[], options: ApplyOptions): Promise<{ id: string }>;
  resultBackend(): Promise<ResultBackend>;
}

/** What the caller adds to a signature when applying it (Celery's `apply_async` arguments). */
export interface ApplyExtras {
  /** Prepended to the signature's own arguments unless it is immutable (the parent's result). */
  args?: readonly JsonValue[] | undefined;
  parentId?: string | null | undefined;
  rootId?: string | null | undefined;
  priority?: number | undefined;
  /** The rest of an enclosing chain, reversed (the next task last). */
  chain?: readonly SignatureJson[] | null | undefined;
}

/** Celery's map, starmap and chunks signatures are plain tasks of its built-ins (celery.map, ...). */
const BUILTIN_TYPES: ReadonlySet<string> = new Set(['xmap', 'xstarmap', 'chunks']);
export const SUPPORTED_TYPES: ReadonlySet<string> = new Set([
  'chain',
  'group',
  'chord',
  ...BUILTIN_TYPES,
]);

/** Sends `sig`; resolves once every message it makes is published. */
export async function applySignatureJson(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras = {},
): Promise<void> {
  await sendSignatureJson(host, sig, extras);
}

/**
 * As `applySignatureJson`; for a plain task, resolves to the id the flow step sent it under
 * (its own, or the open debounce window's, or the task an idempotency key replays).
 */
export async function sendSignatureJson(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras = {},
): Promise<string | undefined> {
  switch (sig.subtask_type) {
    case null:
    case undefined:
      return sendPlain(host, sig, extras);
    case 'chain':
      await applyChain(host, sig, extras);
      return undefined;
    case 'group':
      await (extras.chain?.length
        ? // A group followed by more of a chain is a chord whose body is the rest (Celery upgrades it so).
          applyChord(host, chordOf(sig, restOfChain(extras.chain)), { ...extras, chain: null })
        : applyGroup(host, sig, extras));
      return undefined;
    case 'chord':
      await applyChord(host, sig, extras);
      return undefined;
    default:
      if (BUILTIN_TYPES.has(sig.subtask_type)) return sendPlain(host, sig, extras);
      throw new UnsupportedCanvasError(
        `signature type "${String(sig.subtask_type)}" of task "${sig.task}" is not supported`,
      );
  }
}

/** Checks a signature tree without sending anything: the first problem, or null. */
export function canvasProblem(
  sig: SignatureJson,
  backend: ResultBackend | undefined,
): string | null {
  const type = sig.subtask_type;
  if (type !== null && type !== undefined && !SUPPORTED_TYPES.has(type))
    return `signature type "${String(type)}" of task "${sig.task}" is not supported`;
  if (type === 'chord' && !backend?.chordJoin)
    return new ChordsNotSupportedError(backend?.kind ?? 'absent').message;
  for (const child of childrenOf(sig)) {
    const problem = canvasProblem(child, backend);
    if (problem) return problem;
  }
  for (const key of ['link', 'link_error'] as const) {
    for (const child of signatureList(sig.options[key])) {
      const problem = canvasProblem(child, backend);
      if (problem) return problem;
    }
  }
  return null;
}

function childrenOf(sig: SignatureJson): SignatureJson[] {
  if (sig.subtask_type === 'chain' || sig.subtask_type === 'group')
    return signatureList(sig.kwargs.tasks);
  if (sig.subtask_type === 'chord') return [...headerOf(sig), ...signatureList(sig.kwargs.body)];
  return [];
}

/** A signature list as Celery writes it in options: one signature, a list, or nothing. */
export function signatureList(value: JsonValue | undefined): SignatureJson[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter(isSignature);
}

export function isSignature(value: JsonValue | undefined): value is SignatureJson {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof value.task === 'string'
  );
}

/** A plain task: its own arguments after the extras', its options as Celery names them. */
async function sendPlain(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras,
): Promise<string> {
  const o = sig.options;
  const args = sig.immutable || !extras.args ? [...sig.args] : [...extras.args, ...sig.args];
  const chord = isSignature(o.chord) ? o.chord : null;
  const options: ApplyOptions = {
    taskId: str(o.task_id),
    kwargs: sig.kwargs,
    queue: str(o.queue),
    countdown: num(o.countdown),
    eta: typeof o.eta === 'string' ? new Date(o.eta) : undefined,
    expires: typeof o.expires === 'string' ? new Date(o.expires) : num(o.expires),
    priority: extras.priority ?? num(o.priority),
    softTimeLimit: num(o.soft_time_limit),
    timeLimit: num(o.time_limit),
    ignoreResult: typeof o.ignore_result === 'boolean' ? o.ignore_result : undefined,
    shadow: str(o.shadow),
    parentId: extras.parentId ?? str(o.parent_id),
    rootId: extras.rootId ?? str(o.root_id),
    groupId: str(o.group_id),
    groupIndex: num(o.group_index),
    headers: headersOf(o.headers),
    // Celeriac's own: the flow step honours them whichever way the task is sent.
    idempotencyKey: str(o.celeriac_idempotency_key),
    idempotencyWindow: num(o.celeriac_idempotency_window),
    flow: flowOf(o.celeriac_flow),
    embed: {
      callbacks: nonEmpty(signatureList(o.link)),
      errbacks: nonEmpty(signatureList(o.link_error)),
      chain: extras.chain?.length ? [...extras.chain] : null,
      chord,
    },
  };
  return (await host.sendTask(sig.task, args, options)).id;
}

/** A call's flow options as `celeryOptions` wrote them (JSON, the shape of FlowCallOptions). */
function flowOf(value: JsonValue | undefined): FlowCallOptions | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value;
}

async function applyChain(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras,
): Promise<void> {
  const tasks = signatureList(sig.kwargs.tasks);
  const [first, ...rest] = tasks;
  if (!first) throw new UnsupportedCanvasError(`chain "${sig.task}" has no tasks`);
  // Links set on the chain itself belong to its last task (Celery: the chain's result is its last).
  const last = rest.length ? rest[rest.length - 1]! : first;
  mergeLinks(last, sig.options);
  const chain = [...(extras.chain ?? []), ...rest.reverse()];
  await applySignatureJson(host, first, { ...extras, chain });
}

async function applyGroup(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras,
): Promise<void> {
  const groupId = str(sig.options.task_id) ?? randomUUID();
  const tasks = groupMembers(sig);
  await Promise.all(
    tasks.map((member, index) =>
      applySignatureJson(host, withOptions(member, { group_id: groupId, group_index: index }), {
        ...extras,
        chain: null,
      }),
    ),
  );
}

async function applyChord(
  host: CanvasHost,
  sig: SignatureJson,
  extras: ApplyExtras,
): Promise<void> {
  const backend = await host.resultBackend();
  const join = backend.chordJoin?.();
  if (!join) throw new ChordsNotSupportedError(backend.kind);
  const headerSig = isSignature(sig.kwargs.header) ? sig.kwargs.header : undefined;
  const groupId = str(headerSig?.options.task_id) ?? str(sig.options.task_id) ?? randomUUID();
  const header = headerOf(sig);
  let body = signatureList(sig.kwargs.body)[0];
  if (!body) throw new UnsupportedCanvasError(`chord "${sig.task}" has no body`);
  if (extras.chain?.length) body = chainOf([body, ...[...extras.chain].reverse()]);
  body = withOptions(body, { task_id: bodyId(body) });
  mergeLinks(body, sig.options);
  if (header.length === 0) {
    // Celery runs the body at once with an empty list for an empty header.
    return applySignatureJson(host, body, { ...extras, args: [[]], chain: null });
  }
  await join.setChordSize(groupId, header.length);
  const parts = header.map((member, index) => asHeaderPart(member, body, groupId, index));
  await Promise.all(
    parts.map((part) => applySignatureJson(host, part, { ...extras, chain: null })),
  );
  const deadline = chordDeadline(sig, header);
  if (deadline !== undefined) {
    // The slots still open at the deadline are settled by the worker that runs this
    // (worker/builtin-tasks.ts): the chord ends even if a header task never reports.
    const slots = parts.map((part, index) => [reportingId(part), index]);
    await host.sendTask('celeriac.chord_deadline', [groupId, body, slots, deadline], {
      countdown: deadline,
      rootId: extras.rootId ?? undefined,
    });
  }
}

/** A default deadline is never shorter than this many seconds (delivery and queueing). */
export const MIN_DEFAULT_DEADLINE = 5;

/**
 * The chord's deadline in seconds: the one it was given (`chord_deadline`; `false` for
 * none), else one derived from the header's time limits: twice the time every header task
 * would take run one after another at its limit (countdowns included), at least
 * MIN_DEFAULT_DEADLINE, so it never fires while a healthy worker could still finish the
 * header, even one slot at a time. Undefined (no deadline) when a header task has no time
 * limit, since nothing then bounds how long it may rightly run.
 */
export function chordDeadline(sig: SignatureJson, header: SignatureJson[]): number | undefined {
  const given = sig.options.chord_deadline;
  if (given === false) return undefined;
  if (typeof given === 'number' && Number.isFinite(given)) return given;
  let total = 0;
  for (const part of header) {
    const budget = timeBudget(part);
    if (budget === undefined) return undefined;
    total += budget;
  }
  return Math.max(MIN_DEFAULT_DEADLINE, Math.ceil(2 * total));
}

/** Seconds a header part may rightly take to report at its time limits, or undefined. */
function timeBudget(sig: SignatureJson): number | undefined {
  const sum = (parts: SignatureJson[]): number | undefined => {
    let total = 0;
    for (const part of parts) {
      const budget = timeBudget(part);
      if (budget === undefined) return undefined;
      total += budget;
    }
    return total;
  };
  switch (sig.subtask_type) {
    case 'chain':
      return sum(signatureList(sig.kwargs.tasks));
    case 'group':
      return sum(groupMembers(sig));
    case 'chord':
      return sum([...headerOf(sig), ...signatureList(sig.kwargs.body)]);
    case null:
    default: {
      const limit = num(sig.options.time_limit) ?? num(sig.options.soft_time_limit);
      if (limit === undefined) return undefined;
      return limit + (num(sig.options.countdown) ?? 0);
    }
  }
}

/**
 * A header member that reports to the chord: a plain task carries the body itself; a
 * chain's last task does; a chord's body does (a chord of chords).
 */
function asHeaderPart(
  member: SignatureJson,
  body: SignatureJson,
  groupId: string,
  index: number,
): SignatureJson {
  const part = { group_id: groupId, group_index: index, chord: body };
  switch (member.subtask_type) {
    case null:
    case undefined:
      return withOptions(member, part);
    case 'chain': {
      const tasks = signatureList(member.kwargs.tasks);
      const last = tasks[tasks.length - 1];
      if (!last) throw new UnsupportedCanvasError('a chain in a chord header has no tasks');
      tasks[tasks.length - 1] = asHeaderPart(last, body, groupId, index);
      return { ...member, kwargs: { ...member.kwargs, tasks } };
    }
    case 'chord': {
      const inner = signatureList(member.kwargs.body)[0];
      if (!inner) throw new UnsupportedCanvasError('a chord in a chord header has no body');
      return {
        ...member,
        kwargs: { ...member.kwargs, body: asHeaderPart(inner, body, groupId, index) },
      };
    }
    default:
      // A group was unrolled by headerOf; what is left is a built-in (celery.map, ...).
      return withOptions(member, part);
  }
}

/** The id of the task that reports a header part's slot (a chain's last, a chord's body). */
function reportingId(part: SignatureJson): string | null {
  if (part.subtask_type === 'chain') {
    const tasks = signatureList(part.kwargs.tasks);
    const last = tasks[tasks.length - 1];
    return last ? reportingId(last) : null;
  }
  if (part.subtask_type === 'chord') {
    const inner = signatureList(part.kwargs.body)[0];
    return inner ? reportingId(inner) : null;
  }
  return str(part.options.task_id) ?? null;
}

function headerOf(sig: SignatureJson): SignatureJson[] {
  const header = sig.kwargs.header;
  if (isSignature(header) && header.subtask_type === 'group') return groupMembers(header);
  return flattenGroups(signatureList(header));
}

/**
 * A group's members with every group nested directly in it unrolled in place, as Celery's
 * `group._prepared` does: `group(group(a, b), c)` and `chord([group(a, b), c], body)` have
 * the three members a, b, c (indexes 0, 1, 2; the body gets three results).
 */
export function groupMembers(sig: SignatureJson): SignatureJson[] {
  return flattenGroups(signatureList(sig.kwargs.tasks));
}

function flattenGroups(tasks: SignatureJson[]): SignatureJson[] {
  return tasks.flatMap((task) => (task.subtask_type === 'group' ? groupMembers(task) : [task]));
}

function chordOf(header: SignatureJson, body: SignatureJson): SignatureJson {
  return {
    task: 'celery.chord',
    args: [],
    kwargs: { header, body, kwargs: {} },
    options: {},
    subtask_type: 'chord',
    immutable: false,
  };
}

export function chainOf(tasks: SignatureJson[]): SignatureJson {
  if (tasks.length === 1) return tasks[0]!;
  return {
    task: 'celery.chain',
    args: [],
    kwargs: { tasks },
    options: {},
    subtask_type: 'chain',
    immutable: false,
  };
}

/** The rest of an enclosing chain (stored reversed) as one signature in running order. */
function restOfChain(reversed: readonly SignatureJson[]): SignatureJson {
  return chainOf([...reversed].reverse());
}

/** The body's own task id; a chain body is known by its last task's. */
function bodyId(body: SignatureJson): string {
  if (body.subtask_type === 'chain') {
    const tasks = signatureList(body.kwargs.tasks);
    const last = tasks[tasks.length - 1];
    if (last) {
      const id = str(last.options.task_id) ?? randomUUID();
      last.options = { ...last.options, task_id: id };
      body.kwargs = { ...body.kwargs, tasks };
      return id;
    }
  }
  return str(body.options.task_id) ?? randomUUID();
}

function mergeLinks(target: SignatureJson, from: JsonObject): void {
  for (const key of ['link', 'link_error'] as const) {
    const extra = signatureList(from[key]);
    if (extra.length === 0) continue;
    target.options = {
      ...target.options,
      [key]: [...signatureList(target.options[key]), ...extra],
    };
  }
}

function withOptions(sig: SignatureJson, options: JsonObject): SignatureJson {
  return { ...sig, options: { ...sig.options, ...options } };
}

function nonEmpty(list: SignatureJson[]): SignatureJson[] | null {
  return list.length ? list : null;
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function headersOf(
  value: JsonValue | undefined,
): Record<string, string | number | boolean | null> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, v] of Object.entries(value))
    if (v === null || typeof v !== 'object') out[key] = v;
  return out;
}
