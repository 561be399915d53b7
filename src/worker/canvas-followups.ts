/**
 * What a finished task owes its workflow, as Celery's worker does it (app/trace.py and
 * backends/base.py): on success the `callbacks` get the result and the next task of the
 * `chain` is sent with the rest of it; on failure (or revocation, expiry, refusal) the
 * `errbacks` get the task id and every task left in the chain is marked failed too; a
 * chord header task records its slot in the backend's chord join, and the one that
 * completes the join sends the body with the header results in header order (or fails the
 * body, naming the tasks that failed). Only called for messages that carry a workflow: a
 * plain task never reaches this file.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ChordPart, ResultBackend, StoreOptions } from '../backends/backend.js';
import {
  applySignatureJson,
  canvasProblem,
  groupMembers,
  signatureList,
  type CanvasHost,
} from '../canvas/apply-json.js';
import { freezeJson, resultIdOf, taskIdOf } from '../canvas/canvas-signature.js';
import { ChordError, ChordsNotSupportedError } from '../errors.js';
import type { DecodedTaskMessage } from '../protocol/task-message.js';
import { serializeError } from '../protocol/result-meta.js';
import type { JsonValue, SignatureJson, TaskEmbed } from '../protocol/types.js';
import type { Logger } from '../logger.js';
import { metaFor } from './result-states.js';

export interface FollowupDeps {
  app: CanvasHost;
  backend: ResultBackend | undefined;
  logger: Logger;
  storeOptions: StoreOptions;
}

/** Whether the message carries any workflow (four null checks: the plain path pays no more). */
export function hasWorkflow(embed: TaskEmbed): boolean {
  return (
    embed.callbacks !== null ||
    embed.errbacks !== null ||
    embed.chain !== null ||
    embed.chord !== null
  );
}

/** Why this message's workflow cannot be carried out here, or null: checked before the task runs. */
export function workflowProblem(
  decoded: DecodedTaskMessage,
  backend: ResultBackend | undefined,
): string | null {
  const { embed } = decoded;
  if (embed.chord !== null) {
    if (!backend?.chordJoin) return new ChordsNotSupportedError(backend?.kind ?? 'absent').message;
    if (decoded.groupId === null) return 'a chord header task without a group id (the chord id)';
  }
  for (const sig of [
    ...(embed.callbacks ?? []),
    ...(embed.errbacks ?? []),
    ...(embed.chain ?? []),
    ...(embed.chord ? [embed.chord] : []),
  ]) {
    const problem = canvasProblem(sig, backend);
    if (problem) return problem;
  }
  return null;
}

/**
 * What the task's success sends (its callbacks, the next task of its chain) as Celery stores
 * them in the meta's `children`: result tuples (`[[id, null], null]`, a group's
 * `[[id, null], [members]]`). Gives each of them its task ids first (Celery's `freeze`), so
 * afterSuccess sends them under the ids stored here.
 */
export function successChildren(decoded: DecodedTaskMessage): JsonValue[] {
  const { embed } = decoded;
  const sent = [...(embed.callbacks ?? [])];
  const chain = embed.chain;
  if (chain !== null && chain.length > 0) sent.push(chain[chain.length - 1]!);
  return sent.map((sig) => resultTuple(freezeJson(sig)));
}

function resultTuple(sig: SignatureJson): JsonValue {
  if (sig.subtask_type === 'group')
    return [[taskIdOf(sig), null], groupMembers(sig).map(resultTuple)];
  return [[resultIdOf(sig), null], null];
}

/** The task succeeded with `result`: callbacks, the next chain task, the chord slot. */
export async function afterSuccess(
  decoded: DecodedTaskMessage,
  result: JsonValue,
  deps: FollowupDeps,
): Promise<void> {
  const { embed } = decoded;
  const parentId = decoded.id;
  const rootId = decoded.rootId ?? decoded.id;
  const priority = decoded.properties.priority;
  const sends: Promise<void>[] = [];
  for (const callback of embed.callbacks ?? [])
    sends.push(
      applySignatureJson(deps.app, callback, { args: [result], parentId, rootId, priority }),
    );
  const chain = embed.chain;
  if (chain !== null && chain.length > 0) {
    const next = chain[chain.length - 1]!;
    sends.push(
      applySignatureJson(deps.app, next, {
        args: [result],
        chain: chain.slice(0, -1),
        parentId,
        rootId,
        priority,
      }),
    );
  }
  await Promise.all(sends);
  if (embed.chord !== null && decoded.groupId !== null)
    await chordPartReturn(decoded, embed.chord, 'SUCCESS', result, deps);
}

/**
 * The task ended in FAILURE or REVOKED with `error` (already stored for the task itself):
 * its chord slot is settled, the chain's remaining tasks are marked so (nothing waits on
 * them forever), and the errbacks are sent the task's id.
 */
export async function afterFailure(
  decoded: DecodedTaskMessage,
  state: 'FAILURE' | 'REVOKED',
  error: JsonValue,
  deps: FollowupDeps,
): Promise<void> {
  const { embed } = decoded;
  if (embed.chord !== null && decoded.groupId !== null)
    await chordPartReturn(decoded, embed.chord, state, error, deps);
  for (const element of embed.chain ?? []) await failChainElement(element, state, error, deps);
  const rootId = decoded.rootId ?? decoded.id;
  await Promise.all(
    (embed.errbacks ?? []).map((errback) =>
      applySignatureJson(deps.app, errback, { args: [decoded.id], parentId: decoded.id, rootId }),
    ),
  );
}

/** A chain task that will never run: stored failed, and its chord slot (if any) settled. */
async function failChainElement(
  element: SignatureJson,
  state: 'FAILURE' | 'REVOKED',
  error: JsonValue,
  deps: FollowupDeps,
): Promise<void> {
  const id = str(element.options.task_id);
  if (id === undefined) return;
  const groupId = str(element.options.group_id) ?? null;
  await deps.backend?.store(metaFor({ id, groupId }, state, error), deps.storeOptions);
  const chord = element.options.chord;
  if (groupId !== null && isSig(chord)) {
    const index = element.options.group_index;
    await settleSlot(
      groupId,
      { taskId: id, index: typeof index === 'number' ? index : null, state, result: error },
      chord,
      id,
      deps,
    );
  }
}

async function chordPartReturn(
  decoded: DecodedTaskMessage,
  body: SignatureJson,
  state: string,
  result: JsonValue,
  deps: FollowupDeps,
): Promise<void> {
  const part: ChordPart = { taskId: decoded.id, index: decoded.groupIndex, state, result };
  await settleSlot(decoded.groupId!, part, body, decoded.rootId ?? decoded.id, deps);
}

/**
 * Records one slot; the call that completes the join runs the body (or fails it) and
 * answers true.
 */
export async function settleSlot(
  groupId: string,
  part: ChordPart,
  body: SignatureJson,
  rootId: string,
  deps: FollowupDeps,
): Promise<boolean> {
  const join = deps.backend?.chordJoin?.();
  if (!join) throw new ChordsNotSupportedError(deps.backend?.kind ?? 'absent');
  const parts = await join.addChordPart(groupId, part);
  if (!parts) return false;
  const settled = body.options.chord_policy === 'settled';
  const failed = parts.filter((p) => p.state !== 'SUCCESS');
  if (!settled && failed.length > 0) {
    await failBody(groupId, body, failed, rootId, deps);
  } else {
    const results = settled ? parts.map(settledValue) : parts.map((p) => p.result);
    // Stamped with a token of this send: if this process dies before the join is cleared,
    // the part's redelivery sends the body again, and only one of the sends runs.
    const stamped = stampDispatch(body, randomUUID());
    await applySignatureJson(deps.app, stamped, { args: [results], parentId: part.taskId, rootId });
    deps.logger.info(
      { id: bodyIdOf(body) ?? groupId },
      `Chord ${groupId} complete (${parts.length} parts): sent its body ${body.task}`,
    );
  }
  await join.clearChord(groupId);
  return true;
}

/**
 * Celery's ChordError on the body ("Dependency <id> raised ..."), and the body's errbacks.
 * Like the body, the errbacks are sent once in effect: if this process dies before the join
 * is cleared, the part's redelivery fails the body again and sends them again, under the
 * same task ids (derived from the chord id) and another token, and only the first send runs.
 */
async function failBody(
  groupId: string,
  body: SignatureJson,
  failed: ChordPart[],
  rootId: string,
  deps: FollowupDeps,
): Promise<void> {
  const first = failed[0]!;
  const error = new ChordError(
    `Dependency ${first.taskId} raised ${describe(first.result)}` +
      (failed.length > 1 ? ` (and ${failed.length - 1} more header tasks failed)` : ''),
    failed.map((p) => p.taskId),
  );
  const id = bodyIdOf(body);
  if (id !== undefined)
    await deps.backend?.store(metaFor({ id }, 'FAILURE', serializeError(error)), deps.storeOptions);
  deps.logger.error(
    { id: id ?? first.taskId },
    `Chord body ${body.task} not run: ${error.message}`,
  );
  const errbacks = signatureList(body.options.link_error);
  const token = randomUUID();
  await Promise.all(
    errbacks.map((errback, i) => {
      const fixed = freezeJson(structuredClone(errback), derivedIds(`${groupId}:errback:${i}`));
      return applySignatureJson(deps.app, stampDispatch(fixed, token), {
        args: [id ?? first.taskId],
        parentId: id,
        rootId,
      });
    }),
  );
}

/** Task ids in UUID form that are the same for the same seed in every process (one per call). */
function derivedIds(seed: string): () => string {
  let n = 0;
  return () => {
    const hex = createHash('sha256').update(`${seed}:${n++}`).digest('hex');
    // RFC 9562 version 8 (custom), variant 10.
    const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  };
}

/** The message header that carries the token of a chord body's or errback's send (see admitDispatched in execute.ts). */
export const DISPATCH_HEADER = 'celeriac_dispatch';

/**
 * The body with `token` in the headers of every message its send makes first (a task; a
 * chain's first task; each member of a group; each header task of a chord). Each of those
 * has its task id fixed in advance (frozen by the sender), so a second send of the same
 * body makes messages of the same ids and another token.
 */
export function stampDispatch(sig: SignatureJson, token: string): SignatureJson {
  switch (sig.subtask_type) {
    case 'chain': {
      const [first, ...rest] = signatureList(sig.kwargs.tasks);
      if (!first) return sig;
      return { ...sig, kwargs: { ...sig.kwargs, tasks: [stampDispatch(first, token), ...rest] } };
    }
    case 'group':
      return {
        ...sig,
        kwargs: {
          ...sig.kwargs,
          tasks: signatureList(sig.kwargs.tasks).map((t) => stampDispatch(t, token)),
        },
      };
    case 'chord': {
      const header = sig.kwargs.header;
      const stamped = isSig(header)
        ? stampDispatch(header, token)
        : signatureList(header).map((t) => stampDispatch(t, token));
      return { ...sig, kwargs: { ...sig.kwargs, header: stamped } };
    }
    case null:
    default: {
      const headers = sig.options.headers;
      const own = typeof headers === 'object' && headers !== null && !Array.isArray(headers);
      return {
        ...sig,
        options: {
          ...sig.options,
          headers: { ...(own ? headers : {}), [DISPATCH_HEADER]: token },
        },
      };
    }
  }
}

/**
 * Whether this message, a chord body sent with `token`, may run: the first token to reach a
 * worker for its task id holds it (a redelivery of that message still runs); a message of
 * another send is a duplicate. True where the backend keeps no claims.
 */
export async function firstDispatch(
  taskId: string,
  token: string,
  backend: ResultBackend | undefined,
): Promise<boolean> {
  const join = backend?.chordJoin?.();
  if (!join) return true;
  return (await join.claimOnce(`run-${taskId}`, token)) === token;
}

/** A slot as `Promise.allSettled` gives it, for the `settled` policy. */
function settledValue(part: ChordPart): JsonValue {
  return part.state === 'SUCCESS'
    ? { status: 'fulfilled', value: part.result }
    : { status: 'rejected', reason: part.result, task_id: part.taskId, state: part.state };
}

function bodyIdOf(body: SignatureJson): string | undefined {
  if (body.subtask_type === 'chain') {
    const tasks = signatureList(body.kwargs.tasks);
    return str(tasks[tasks.length - 1]?.options.task_id);
  }
  return str(body.options.task_id);
}

function describe(result: JsonValue): string {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const type = typeof result.exc_type === 'string' ? result.exc_type : 'Error';
    const message = Array.isArray(result.exc_message)
      ? result.exc_message.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(', ')
      : JSON.stringify(result.exc_message ?? null);
    return `${type}(${message})`;
  }
  return JSON.stringify(result);
}

function isSig(value: JsonValue | undefined): value is SignatureJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'task' in value;
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
