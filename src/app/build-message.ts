/**
 * Turns a call (task name, arguments, per-call and per-task options) into a protocol v2
 * message plus the broker's publish options. Pure: the clock is passed in.
 */
import { randomUUID } from 'node:crypto';
import type { PublishOptions } from '../brokers/broker.js';
import { encodeTaskMessage } from '../protocol/task-message.js';
import type { JsonObject, JsonValue, TransportMessage } from '../protocol/types.js';
import type { ApplyOptions, TaskOptions } from './task-options.js';

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
  });
  const publish: PublishOptions = { queue };
  if (eta && eta.getTime() > context.now) publish.deliverAt = eta.getTime();
  if (priority !== undefined) publish.priority = priority;
  if (call.transaction !== undefined) publish.transaction = call.transaction;
  return { id, message, publish };
}
