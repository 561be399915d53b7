/**
 * Flow control on the app's side (`app.flow`): idempotent enqueue (one claim per key in
 * the result backend's flow store, taken before the message is published), debounce (a
 * window per key, opened by the call that sends the one message) and fairness (each
 * message also queued per key in the store, for workers to serve round-robin), and each
 * limit's live state, read from the same store the workers count in.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { FlowEntry, FlowStore } from '../backends/flow-store.js';
import type { BuiltMessage } from '../app/build-message.js';
import type { ApplyOptions, TaskOptions } from '../app/task-options.js';
import { CeleriacError, FlowStoreUnavailableError } from '../errors.js';
import { DEBOUNCE_HEADER, FAIR_HEADER, encodeQueuedMessage, queuedIdOf } from './flow-headers.js';

/** How the app builds and publishes a call that flow control sends. */
export interface FlowSendIo {
  build(options: ApplyOptions): BuiltMessage;
  publish(built: BuiltMessage): Promise<void>;
  /** Milliseconds idempotency claims and debounce windows are kept (the app's resultExpires). */
  keepMs: number;
}
/** A task's flow-control state now, as the store holds it. */
export interface FlowState {
  task: string;
  /**
   * Rate and throttle buckets in use (a full bucket is not listed): tokens left, below 0
   * when booked ahead; `booked`: runs waiting for a token already given them.
   */
  rate: Array<{ key: string | null; tokens: number; booked: number }>;
  /** Throttle buckets in use, as `rate`. */
  throttle: Array<{ key: string | null; tokens: number; booked: number }>;
  /** Concurrency slots held now, by key (null: the task's global limit). */
  running: Array<{ key: string | null; held: number }>;
  /** Idempotency keys claimed now and the task id each replays. */
  idempotency: Array<{ key: string; taskId: string }>;
  /** Open debounce windows: the task id every call gets, and when it runs unless called again. */
  debounce: Array<{ key: string | null; taskId: string; dueAt: number }>;
  /** Fairness backlogs: tasks of each key waiting for their turn. */
  waiting: Array<{ key: string; waiting: number }>;
}

export class AppFlow {
  private storePromise: Promise<FlowStore> | undefined;

  constructor(private readonly backend: () => Promise<ResultBackend>) {}

  /** The result backend's flow store, opened on first use; FlowStoreUnavailableError without one. */
  store(what = 'Flow control'): Promise<FlowStore> {
    this.storePromise ??= (async () => {
      const backend = await this.backend();
      const store = backend.flowStore?.();
      if (!store) throw new FlowStoreUnavailableError(what, backend.kind);
      await store.open();
      return store;
    })().catch((error: unknown) => {
      this.storePromise = undefined;
      throw error;
    });
    return this.storePromise;
  }

  /**
   * Claims `key` of task `name` for `taskId` for `windowMs`: returns `taskId` when the
   * caller should send it, else the id of the task already sent under that key.
   */
  async claim(name: string, key: string, taskId: string, windowMs: number): Promise<string> {
    const store = await this.store(`The idempotency key of a ${name} call`);
    return store.claim(idempotencyKey(name, key), taskId, windowMs, Date.now());
  }

  /** Frees a claim whose message could not be sent, so the next call sends again. */
  async unclaim(name: string, key: string, taskId: string): Promise<void> {
    const store = await this.store();
    await store.unclaim(idempotencyKey(name, key), taskId);
  }

  /**
   * Sends a call of a task that declares debounce or fairness; returns the task id the
   * caller's AsyncResult follows (with debounce, the open window's).
   */
  async send(
    name: string,
    args: unknown[],
    options: ApplyOptions,
    defaults: TaskOptions,
    io: FlowSendIo,
  ): Promise<string> {
    const debounce = debounceOf(name, args, options, defaults);
    // A delayed call (or a debounced one) is not queued for fairness: it runs when due.
    const fairKey =
      debounce === undefined && options.countdown === undefined && options.eta === undefined
        ? fairKeyOf(args, options, defaults)
        : undefined;
    if (debounce === undefined && fairKey === undefined) return this.sendPlain(name, options, io);
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
      const store = await this.store(`The debounce of task ${name}`);
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
    const store = await this.store(`The fairness of task ${name}`);
    const group = `${name}:fair`;
    const queuedId = queuedIdOf(built.message);
    return this.withClaim(name, options, built, io, async () => {
      await store.fairPush(group, fairKey!, queuedId, encodeQueuedMessage(built.message));
      try {
        await io.publish(built);
      } catch (error) {
        await store.fairRemove(group, fairKey!, queuedId).catch(() => undefined);
        throw error;
      }
    });
  }

  private sendPlain(name: string, options: ApplyOptions, io: FlowSendIo): Promise<string> {
    const built = io.build(options);
    return this.withClaim(name, options, built, io, () => io.publish(built));
  }

  /** Publishes with `publish`, after claiming the call's idempotency key if it has one. */
  private async withClaim(
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
    const owner = await this.claim(name, key, built.id, windowMs);
    if (owner !== built.id) return owner;
    try {
      await publish();
    } catch (error) {
      await this.unclaim(name, key, built.id).catch(() => undefined);
      throw error;
    }
    return built.id;
  }

  /** What the store holds for `taskName` now: buckets, running slots, claims, windows, backlogs. */
  async state(taskName: string): Promise<FlowState> {
    const store = await this.store();
    const prefix = `${taskName}:`;
    const state: FlowState = {
      task: taskName,
      rate: [],
      throttle: [],
      running: [],
      idempotency: [],
      debounce: [],
      waiting: [],
    };
    for (const entry of await store.inspect(prefix, Date.now())) addEntry(state, prefix, entry);
    return state;
  }

  async close(): Promise<void> {
    const opened = this.storePromise;
    this.storePromise = undefined;
    const store = await opened?.catch(() => undefined);
    await store?.close();
  }
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

function idempotencyKey(name: string, key: string): string {
  return `${name}:idem:${key}`;
}

/** Entries are stored as `<task>:<kind>` or `<task>:<kind>:<key>` (flow-control.ts names them). */
function addEntry(state: FlowState, prefix: string, entry: FlowEntry): void {
  const rest = entry.key.slice(prefix.length);
  const colon = rest.indexOf(':');
  const kind = colon === -1 ? rest : rest.slice(0, colon);
  const key = colon === -1 ? null : rest.slice(colon + 1);
  const tokens = entry.tokens ?? 0;
  const booked = Math.max(0, Math.ceil(-tokens - 1e-9));
  if (kind === 'rate' && entry.kind === 'bucket') state.rate.push({ key, tokens, booked });
  else if (kind === 'throt' && entry.kind === 'bucket')
    state.throttle.push({ key, tokens, booked });
  else if (kind === 'deb' && entry.kind === 'debounce')
    state.debounce.push({ key, taskId: entry.taskId ?? '', dueAt: entry.dueAt ?? 0 });
  else if (kind === 'fair' && entry.kind === 'fair' && key !== null)
    state.waiting.push({ key, waiting: entry.waiting ?? 0 });
  else if ((kind === 'conc' || kind === 'single') && entry.kind === 'slots')
    state.running.push({ key, held: entry.held ?? 0 });
  else if (kind === 'idem' && entry.kind === 'claim' && key !== null)
    state.idempotency.push({ key, taskId: entry.taskId ?? '' });
}
