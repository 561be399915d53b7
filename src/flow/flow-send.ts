/**
 * The one flow step every send goes through (`task.delay`/`applyAsync`, `app.sendTask`,
 * `app.sendMany`, canvas signatures, chains, groups and chords, beat, the worker's retries
 * and follow-ups, the dashboard's re-send, the CLI's `call`): a call with no idempotency
 * key whose task declares no debounce or fairness is built and published at once, with no
 * store call; otherwise debounce opens (or joins) a window in the flow store and only the
 * call that opens it publishes, fairness queues the message per key in the store before
 * publishing it as a token, and an idempotency claim wraps the publish. A retry (the
 * worker's: `retries` set) continues a run that already passed debounce and fairness, so
 * it is published as is.
 */
import type { BuiltMessage } from '../app/build-message.js';
import type { ApplyOptions, TaskOptions } from '../app/task-options.js';
import { CeleriacError } from '../errors.js';
import type { AppFlow } from './app-flow.js';
import { DEBOUNCE_HEADER, FAIR_HEADER, encodeQueuedMessage, queuedIdOf } from './flow-headers.js';

/** How the app builds and publishes a call that flow control sends. */
export interface FlowSendIo {
  build(options: ApplyOptions): BuiltMessage;
  publish(built: BuiltMessage): Promise<void>;
  /** Milliseconds idempotency claims and debounce windows are kept (the app's resultExpires). */
  keepMs: number;
}

/** Whether a call needs the flow store at all (false: the step only builds and publishes). */
export function needsFlowStore(options: ApplyOptions, defaults: TaskOptions): boolean {
  return (
    options.idempotencyKey !== undefined ||
    (options.retries === undefined &&
      (defaults.debounce !== undefined || defaults.fairness !== undefined))
  );
}

/**
 * Sends one call; returns the task id the caller's AsyncResult follows (with debounce, the
 * open window's; with an idempotency key already claimed, the task sent under it).
 */
export async function sendThroughFlow(
  flow: AppFlow,
  name: string,
  args: unknown[],
  options: ApplyOptions,
  defaults: TaskOptions,
  io: FlowSendIo,
): Promise<string> {
  if (!needsFlowStore(options, defaults)) {
    const built = io.build(options);
    await io.publish(built);
    return built.id;
  }
  if (options.retries !== undefined) return sendPlain(flow, name, options, io);
  const debounce = debounceOf(name, args, options, defaults);
  // A delayed call (or a debounced one) is not queued for fairness: it runs when due.
  const fairKey =
    debounce === undefined && options.countdown === undefined && options.eta === undefined
      ? fairKeyOf(args, options, defaults)
      : undefined;
  if (debounce === undefined && fairKey === undefined) return sendPlain(flow, name, options, io);
  if (debounce && options.idempotencyKey !== undefined)
    throw new CeleriacError(
      `Task ${name}: a debounced call cannot take an idempotencyKey (debounce already makes one run of the calls of a key); pass flow: { debounce: false } to send this one with the key.`,
    );
  const headers = { ...options.headers };
  if (debounce) headers[DEBOUNCE_HEADER] = debounce.key;
  if (fairKey !== undefined) headers[FAIR_HEADER] = fairKey;
  const built = io.build({
    ...options,
    headers,
    ...(debounce && { countdown: debounce.delayMs / 1000, eta: undefined }),
  });
  if (debounce) {
    const store = await flow.store(`The debounce of task ${name}`);
    const window = await store.debounce(
      debounce.key,
      built.id,
      JSON.stringify(args),
      debounce.delayMs,
      Date.now(),
      io.keepMs,
    );
    if (!window.opened) return window.taskId;
    try {
      await io.publish(built);
    } catch (error) {
      await store.debounceDrop(debounce.key, built.id).catch(() => undefined);
      throw error;
    }
    return built.id;
  }
  const store = await flow.store(`The fairness of task ${name}`);
  const group = `${name}:fair`;
  const queuedId = queuedIdOf(built.message);
  return withClaim(flow, name, options, built, io, async () => {
    await store.fairPush(group, fairKey!, queuedId, encodeQueuedMessage(built.message));
    try {
      await io.publish(built);
    } catch (error) {
      await store.fairRemove(group, fairKey!, queuedId).catch(() => undefined);
      throw error;
    }
  });
}

function sendPlain(
  flow: AppFlow,
  name: string,
  options: ApplyOptions,
  io: FlowSendIo,
): Promise<string> {
  const built = io.build(options);
  return withClaim(flow, name, options, built, io, () => io.publish(built));
}

/** Publishes with `publish`, after claiming the call's idempotency key if it has one. */
async function withClaim(
  flow: AppFlow,
  name: string,
  options: ApplyOptions,
  built: BuiltMessage,
  io: FlowSendIo,
  publish: () => Promise<void>,
): Promise<string> {
  const key = options.idempotencyKey;
  if (key === undefined) {
    await publish();
    return built.id;
  }
  const windowMs =
    options.idempotencyWindow !== undefined ? options.idempotencyWindow * 1000 : io.keepMs;
  const owner = await flow.claim(name, key, built.id, windowMs);
  if (owner !== built.id) return owner;
  try {
    await publish();
  } catch (error) {
    await flow.unclaim(name, key, built.id).catch(() => undefined);
    throw error;
  }
  return built.id;
}

/** A call's debounce: its window's store key and delay, or undefined when it is not debounced. */
function debounceOf(
  name: string,
  args: unknown[],
  options: ApplyOptions,
  defaults: TaskOptions,
): { key: string; delayMs: number } | undefined {
  const declared = defaults.debounce;
  const call = options.flow?.debounce;
  if (declared === undefined || call === false) return undefined;
  const key =
    call?.key ?? (declared.key ? keyString(declared.key(...(args as never[]))) : undefined);
  const delay = call?.delay ?? declared.delay;
  if (!Number.isFinite(delay) || delay < 0)
    throw new CeleriacError(`Task ${name}: debounce delay must be seconds >= 0, got ${delay}`);
  return { key: key === undefined ? `${name}:deb` : `${name}:deb:${key}`, delayMs: delay * 1000 };
}

function fairKeyOf(
  args: unknown[],
  options: ApplyOptions,
  defaults: TaskOptions,
): string | undefined {
  const declared = defaults.fairness;
  const call = options.flow?.fairness;
  if (declared === undefined || call === false) return undefined;
  return call?.key ?? keyString(declared.key(...(args as never[])));
}

function keyString(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new CeleriacError(`A flow-control key function returned ${typeof value}, not a string`);
  return String(value);
}
