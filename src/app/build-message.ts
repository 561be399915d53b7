/**
 * Turns a call (task name, arguments, per-call and per-task options) into a protocol v2
 * message plus the broker's publish options. Pure: the clock is passed in.
 */
import { randomUUID } from 'node:crypto';
import type { PublishOptions } from '../brokers/broker.js';
import { encodeTaskMessage } from '../protocol/task-message.js';
import type { JsonObject, JsonValue, TransportMessage } from '../protocol/types.js';
import type { ApplyOptions, SignatureLike, TaskOptions } from './task-options.js';
import type { SignatureJson } from '../protocol/types.js';

export interface BuiltMessage {
  id: string;
  message: TransportMessage;
  publish: PublishOptions;
}

export interface BuildContext {
  now: number;
  origin: string;
  replyTo: string;
  defaultQueue: string;
}

export function buildTaskMessage(
  name: string,
  args: unknown[],
  call: ApplyOptions,
  defaults: TaskOptions,
  context: BuildContext,
): BuiltMessage {
  const id = call.taskId ?? randomUUID();
  const queue = call.queue ?? defaults.queue ?? context.defaultQueue;
  const eta =
    call.eta ??
    (call.countdown !== undefined ? new Date(context.now + call.countdown * 1000) : null);
  const expiresOption = call.expires ?? defaults.expires;
  const expires =
    expiresOption === undefined
      ? null
      : expiresOption instanceof Date
        ? expiresOption
        : new Date(context.now + expiresOption * 1000);
  const priority = call.priority ?? defaults.priority;
  const message = encodeTaskMessage({
    task: name,
    id,
    args: args as JsonValue[],
    kwargs: (call.kwargs ?? {}) as JsonObject,
    eta,
    expires,
    retries: call.retries ?? 0,
    timeLimit: call.timeLimit ?? defaults.timeLimit ?? null,
    softTimeLimit: call.softTimeLimit ?? defaults.softTimeLimit ?? null,
    rootId: call.rootId ?? id,
    parentId: call.parentId ?? null,
    groupId: call.groupId ?? null,
    groupIndex: call.groupIndex ?? null,
    shadow: call.shadow ?? null,
    origin: context.origin,
    ignoreResult: call.ignoreResult ?? defaults.ignoreResult ?? false,
    replyTo: context.replyTo,
    priority: priority ?? 0,
    headers: call.headers,
    routingKey: queue,
    callbacks: signatures(call.link, call.embed?.callbacks),
    errbacks: signatures(call.linkError, call.embed?.errbacks),
    chain: call.embed?.chain ?? null,
    chord: call.embed?.chord ?? null,
  });
  const publish: PublishOptions = { queue };
  if (eta && eta.getTime() > context.now) publish.deliverAt = eta.getTime();
  if (priority !== undefined) publish.priority = priority;
  if (expires) publish.expiresAt = expires.getTime();
  if (call.transaction !== undefined) publish.transaction = call.transaction;
  return { id, message, publish };
}

/** The embed's signature list: those already serialised, then the call's own. */
function signatures(
  given: SignatureLike | readonly SignatureLike[] | undefined,
  embedded: SignatureJson[] | null | undefined,
): SignatureJson[] | null {
  if (given === undefined) return embedded ?? null;
  const list = isList(given) ? given.map((sig) => sig.toJSON()) : [given.toJSON()];
  return embedded ? [...embedded, ...list] : list;
}

function isList(
  value: SignatureLike | readonly SignatureLike[],
): value is readonly SignatureLike[] {
  return Array.isArray(value);
}
