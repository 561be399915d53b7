/**
 * Flow control on the worker's side: a fair task's message first takes the next task of
 * the round-robin (fairness), a debounced one the last call's arguments; then its rate
 * limits, throttle, concurrency limits and singleton are asked. A task that may not start yet is handed back to the
 * worker to hold, unsettled and outside its slots, until the token booked for it is due
 * or a slot may be free; nothing polls for rate limits. Shared state lives in the result
 * backend's flow store; a per-worker rate (Celery's `rate_limit`) in this process. A task
 * without limits costs one map lookup in an empty map.
 */
import { randomUUID } from 'node:crypto';
import type { Delivery } from '../brokers/broker.js';
import type { ResultBackend } from '../backends/backend.js';
import {
  takeToken,
  type BucketState,
  type FlowStore,
  type RateSpec,
  type SlotLease,
  type TakeResult,
} from '../backends/flow-store.js';
import type { Celeriac } from '../app/celeriac.js';
import type { Task } from '../app/task.js';
import type { Rate } from '../app/task-options.js';
import { CeleriacError, FlowStoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseRate } from './rate.js';
import {
  FAIR_HEADER,
  FLOW_HEADER,
  decodeQueuedMessage,
  queuedIdOf,
  readFlowHeader,
} from './flow-headers.js';

/** What the worker lends flow control: holding a delivery outside its slots, and waking it early. */
export interface FlowHooks {
  hold(delivery: Delivery, dueAt: number): void;
  wake(delivery: Delivery): void;
}

/** A run let through: the slots it holds (concurrency, singleton), to give back with `leave`. */
export interface FlowTicket {
  readonly leases: readonly SlotLease[];
}

/** A run the limits refuse for good (throttle or singleton in `drop` mode): why. */
export interface FlowDrop {
  readonly drop: 'throttled' | 'singleton';
}

/** What a debounced message runs with: held (not due), the last call's arguments, or as sent. */
export type DebounceOutcome = { held: true } | { args: unknown[] } | { asSent: true };

const NO_SLOT: FlowTicket = { leases: [] };

/** Why a held delivery waits. */
export type WaitReason = 'rate' | 'throttle' | 'concurrency' | 'singleton' | 'debounce';

/** One task's flow control as this worker sees it now (`worker.flowState()`). */
export interface WorkerFlowState {
  task: string;
  /** Runs this worker let through in the last 10 s, per second: the current rate here. */
  startedPerSecond: number;
  /** Deliveries this worker holds, outside its slots, by key (null: the task's own limit) and reason. */
  waiting: Array<{ key: string | null; reason: WaitReason; count: number }>;
  /** Concurrency and singleton slots this worker's runs hold now, by key (null: the task's own). */
  running: Array<{ key: string | null; count: number }>;
}

/** The window `startedPerSecond` is measured over. */
const RATE_WINDOW_MS = 10_000;
/** A token booked this far ahead is kept; a later one is asked for again then. */
const RESERVE_MS = 60_000;
/** A booked token this close is run now. */
const DUE_SLACK_MS = 3;
const DEFAULT_LEASE_MS = 30_000;
const SLOT_RETRY_MIN_MS = 25;
const SLOT_RETRY_MAX_MS = 1000;
/**
 * Held deliveries whose prefetch credit is handed back, so the consumer fetches past them
 * (other tasks, other keys) instead of stalling behind a full window of waiting ones.
 * Past this many, holding more pauses the intake: memory stays bounded.
 */
const MAX_RELEASED = 1000;

interface SharedRate {
  spec: RateSpec;
  key: ((...args: unknown[]) => string) | undefined;
  local: boolean;
}

interface Concurrency {
  limit: number;
  key: ((...args: unknown[]) => string) | undefined;
  leaseMs: number;
}

interface Throttle {
  spec: RateSpec;
  key: ((...args: unknown[]) => string) | undefined;
  drop: boolean;
}

interface Singleton {
  key: ((...args: unknown[]) => string) | undefined;
  leaseMs: number;
  drop: boolean;
}

/** The limits a gate may hold besides the rate and concurrency ones. */
interface Extras {
  throttle?: Throttle | undefined;
  singleton?: Singleton | undefined;
  debounce?: boolean | undefined;
  fairness?: boolean | undefined;
}

/** One task's limits as this worker applies them. */
export class FlowGate {
  /** Set by `worker.setRateLimit` (Celery's remote `rate_limit`): this worker only. */
  workerRate: RateSpec | null = null;

  readonly throttle: Throttle | undefined;
  readonly singleton: Singleton | undefined;
  /** Messages carry a debounce window's key: they run with its last call's arguments. */
  readonly debounce: boolean;
  /** Messages are tokens of the round-robin between keys. */
  readonly fairness: boolean;

  constructor(
    readonly name: string,
    readonly rate: SharedRate | undefined,
    readonly concurrency: Concurrency | undefined,
    extras: Extras = {},
  ) {
    this.throttle = extras.throttle;
    this.singleton = extras.singleton;
    this.debounce = extras.debounce ?? false;
    this.fairness = extras.fairness ?? false;
  }

  /** Whether any limit needs the shared flow store. */
  get shared(): boolean {
    return (
      this.concurrency !== undefined ||
      (this.rate !== undefined && !this.rate.local) ||
      this.throttle !== undefined ||
      this.singleton !== undefined ||
      this.debounce ||
      this.fairness
    );
  }

  get empty(): boolean {
    return this.workerRate === null && this.rate === undefined && !this.shared;
  }
}

export class FlowControl {
  private readonly gates = new Map<string, FlowGate>();
  /** True when some task declares fairness: its messages are checked for the fairness header. */
  fair = false;
  /** Deliveries standing for a task taken from the fairness queue (their token's), not to take again. */
  private readonly queuedRuns = new WeakSet<Delivery>();
  private readonly localBuckets = new Map<string, BucketState>();
  /** Tokens booked for held deliveries: when each may run. */
  private readonly booked = new WeakMap<Delivery, number>();
  /** How many times a delivery found its slots full in a row (its next retry backs off). */
  private readonly slotMisses = new WeakMap<Delivery, number>();
  /** Held deliveries waiting for a slot of a key, oldest first: woken when this worker frees one. */
  private readonly slotWaiters = new Map<string, Set<Delivery>>();
  private readonly leases = new Set<SlotLease>();
  /** Held deliveries released to the consumer (see MAX_RELEASED), until they run. */
  private readonly released = new Set<Delivery>();
  /** What each held delivery waits for, for `state()`. */
  private readonly waitingOn = new Map<
    Delivery,
    { task: string; key: string; reason: WaitReason }
  >();
  /** Start times in the last RATE_WINDOW_MS, per task (only tasks with limits pass here). */
  private readonly starts = new Map<string, number[]>();
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly holderPrefix: string;
  private seq = 0;
  private unwatch: (() => Promise<void>) | undefined;
  /** Milliseconds a debounce window's run is remembered for redeliveries (the app's resultExpires). */
  private keepMs = 86_400_000;

  private constructor(
    private readonly store: FlowStore | undefined,
    private readonly hooks: FlowHooks,
    private readonly logger: Logger,
    hostname: string,
  ) {
    this.holderPrefix = `${hostname}:${process.pid}:${randomUUID().slice(0, 8)}:`;
  }

  /**
   * The flow control of a worker of `app`: a gate per task with limits. Refuses with
   * FlowStoreUnavailableError when a task needs the shared store and `backend` has none.
   */
  static async open(
    app: Celeriac,
    backend: ResultBackend | undefined,
    hooks: FlowHooks,
    logger: Logger,
    hostname: string,
  ): Promise<FlowControl> {
    const gates: FlowGate[] = [];
    for (const name of app.taskNames()) {
      const gate = gateOf(app.getTask(name) as Task<unknown[], unknown>);
      if (gate) gates.push(gate);
    }
    const needsStore = gates.filter((g) => g.shared);
    let store: FlowStore | undefined;
    if (needsStore.length > 0) {
      store = backend?.flowStore?.();
      if (!store)
        throw new FlowStoreUnavailableError(
          `The shared flow control (rate, concurrency, throttle, singleton, debounce or fairness) of task(s) ${needsStore.map((g) => g.name).join(', ')}` +
            ` (a per-worker rateLimit such as '10/s' needs none)`,
          backend?.kind ?? 'none',
        );
      await store.open();
    }
    const flow = new FlowControl(store, hooks, logger, hostname);
    // A slot freed anywhere the store hears wakes a delivery waiting here for one of its key.
    if (store?.watchReleases && gates.some((g) => g.concurrency || g.singleton))
      flow.unwatch = await store.watchReleases((key) => flow.wakeWaiter(key));
    for (const gate of gates) flow.gates.set(gate.name, gate);
    flow.fair = gates.some((g) => g.fairness);
    flow.keepMs = app.config.resultExpiresMs || flow.keepMs;
    flow.scheduleRenewals();
    return flow;
  }

  /** The gate of a task with limits, else undefined (the no-limit path: one lookup). */
  gateFor(name: string): FlowGate | undefined {
    return this.gates.size === 0 ? undefined : this.gates.get(name);
  }

  /** Sets (or with 0 / null, removes) this worker's own rate limit of a task, as Celery's `rate_limit` command. */
  setRateLimit(name: string, rate: Rate | null): void {
    const spec = rate === null ? null : parseRate(rate);
    let gate = this.gates.get(name);
    if (!gate) {
      if (spec === null) return;
      gate = new FlowGate(name, undefined, undefined);
      this.gates.set(name, gate);
    }
    gate.workerRate = spec;
    this.localBuckets.delete(`${name}\u0000worker`);
    if (gate.empty) this.gates.delete(name);
  }

  /** Whether `delivery` is a fairness token not yet turned into the run of a queued task. */
  isFairToken(delivery: Delivery): boolean {
    return (
      this.fair &&
      typeof delivery.message.headers[FAIR_HEADER] === 'string' &&
      !this.queuedRuns.has(delivery)
    );
  }

  /**
   * Fairness: `delivery` is a token of its task's round-robin; returns the delivery of the
   * task it runs (the next key's oldest, settled through the token), or null when none is
   * left (the token is acked: its own task already ran under another token).
   */
  async takeFair(delivery: Delivery): Promise<Delivery | null> {
    if (this.queuedRuns.has(delivery)) return delivery;
    const task = delivery.message.headers.task;
    const gate = typeof task === 'string' ? this.gates.get(task) : undefined;
    if (!gate?.fairness) return delivery;
    const group = `${gate.name}:fair`;
    const token = queuedIdOf(delivery.message);
    const store = this.store!;
    const item = await store.fairTake(group, token);
    if (!item) {
      await delivery.ack();
      return null;
    }
    const run: Delivery = {
      message: decodeQueuedMessage(item.payload),
      queue: delivery.queue,
      redelivered: delivery.redelivered,
      ack: async () => {
        await store.fairDone(group, token);
        await delivery.ack();
      },
      reject: async (options) => {
        // Requeued: the token comes back and takes the same task again.
        if (!options.requeue) await store.fairDone(group, token);
        await delivery.reject(options);
      },
      defer: (deliverAt) => delivery.defer(deliverAt),
      release: () => delivery.release(),
    };
    this.queuedRuns.add(run);
    return run;
  }

  /**
   * Debounce: the message of window `windowId` under `key`. Not due (called again since):
   * held until it is. Due: the last call's arguments (kept, so a redelivery runs them too).
   * A window the store no longer knows (expired): the message runs as sent.
   */
  async debounced(delivery: Delivery, key: string, windowId: string): Promise<DebounceOutcome> {
    const now = Date.now();
    const taken = await this.store!.debounceTake(key, windowId, now, this.keepMs);
    if (taken.kind === 'wait') {
      const task = delivery.message.headers.task;
      this.hold(delivery, taken.dueAt, {
        task: typeof task === 'string' ? task : '',
        key,
        reason: 'debounce',
      });
      return { held: true };
    }
    if (taken.kind === 'unknown') return { asSent: true };
    return { args: JSON.parse(taken.payload) as unknown[] };
  }

  /**
   * Asks the gate's limits whether `delivery` may run now. Null: it may not, and it has
   * been handed to the worker to hold (or refused, when its key could not be made). A
   * drop: a throttle or singleton in `drop` mode refuses it for good.
   */
  async enter(
    gate: FlowGate,
    delivery: Delivery,
    args: unknown[],
  ): Promise<FlowTicket | FlowDrop | null> {
    const call = readFlowHeader(delivery.message.headers[FLOW_HEADER]);
    let rateKey: string | undefined;
    let slotKey: string | undefined;
    let singleKey: string | undefined;
    let throttleKey: string | undefined;
    try {
      if (gate.rate) rateKey = keyOf(gate.name, 'rate', gate.rate.key, args, call?.rateLimit);
      if (gate.concurrency)
        slotKey = keyOf(gate.name, 'conc', gate.concurrency.key, args, call?.concurrency);
      if (gate.singleton)
        singleKey = keyOf(gate.name, 'single', gate.singleton.key, args, call?.singleton);
      if (gate.throttle)
        throttleKey = keyOf(gate.name, 'throt', gate.throttle.key, args, call?.throttle);
    } catch (error) {
      await this.refuse(gate, delivery, error as Error);
      return null;
    }
    const now = Date.now();
    // A token booked earlier is this delivery's; it runs once the token is due.
    const bookedAt = this.booked.get(delivery);
    if (bookedAt !== undefined && bookedAt > now + DUE_SLACK_MS) {
      this.hold(delivery, bookedAt, this.waitingOn.get(delivery));
      return null;
    }
    const leases: SlotLease[] = [];
    const giveBack = async (): Promise<void> => {
      for (const lease of leases) await this.release(lease);
    };
    if (slotKey !== undefined) {
      const { limit, leaseMs } = gate.concurrency!;
      const holder = `${this.holderPrefix}${++this.seq}`;
      if (!(await this.store!.acquire(slotKey, holder, limit, leaseMs, now))) {
        this.waitForSlot(slotKey, delivery, gate.name, 'concurrency');
        return null;
      }
      leases.push({ key: slotKey, holder });
    }
    if (singleKey !== undefined) {
      const { leaseMs, drop } = gate.singleton!;
      const holder = `${this.holderPrefix}${++this.seq}`;
      if (!(await this.store!.acquire(singleKey, holder, 1, leaseMs, now))) {
        await giveBack();
        if (drop) {
          this.waitingOn.delete(delivery);
          return { drop: 'singleton' };
        }
        this.waitForSlot(singleKey, delivery, gate.name, 'singleton');
        return null;
      }
      leases.push({ key: singleKey, holder });
    }
    this.slotMisses.delete(delivery);
    for (const lease of leases) this.slotWaiters.get(lease.key)?.delete(delivery);
    const queuedThrottle = gate.throttle && !gate.throttle.drop ? throttleKey : undefined;
    if (bookedAt === undefined) {
      const { taken, waitMs } = await this.takeTokens(gate, rateKey, queuedThrottle, now);
      if (waitMs > DUE_SLACK_MS) {
        await giveBack();
        if (taken) this.booked.set(delivery, now + waitMs);
        const why: WaitReason = rateKey !== undefined || gate.workerRate ? 'rate' : 'throttle';
        const key = why === 'rate' ? (rateKey ?? `${gate.name}:rate`) : queuedThrottle!;
        this.hold(delivery, now + waitMs, { task: gate.name, key, reason: why });
        return null;
      }
    } else {
      this.booked.delete(delivery);
    }
    if (gate.throttle?.drop && throttleKey !== undefined) {
      const { taken } = await this.store!.take(throttleKey, gate.throttle.spec, now, 0);
      if (!taken) {
        await giveBack();
        this.released.delete(delivery);
        this.waitingOn.delete(delivery);
        return { drop: 'throttled' };
      }
    }
    this.released.delete(delivery);
    this.waitingOn.delete(delivery);
    this.noteStart(gate.name, now);
    if (leases.length === 0) return NO_SLOT;
    for (const lease of leases) this.leases.add(lease);
    return { leases };
  }

  /** The run of a ticket ended: its slots go back, and a delivery waiting here for one is woken. */
  async leave(ticket: FlowTicket): Promise<void> {
    for (const lease of ticket.leases) {
      this.leases.delete(lease);
      await this.release(lease);
      this.wakeWaiter(lease.key);
    }
  }

  /** A slot of `key` was freed (here, or elsewhere as the store announced): its first waiter asks again now. */
  private wakeWaiter(key: string): void {
    const waiters = this.slotWaiters.get(key);
    if (!waiters) return;
    const [next] = waiters;
    if (next) {
      waiters.delete(next);
      this.hooks.wake(next);
    }
    if (waiters.size === 0) this.slotWaiters.delete(key);
  }

  /** Each limited task's current rate here and what this worker holds for it, by key. */
  state(): WorkerFlowState[] {
    const now = Date.now();
    const byTask = new Map<string, WorkerFlowState>();
    const entry = (task: string): WorkerFlowState => {
      let found = byTask.get(task);
      if (!found)
        byTask.set(task, (found = { task, startedPerSecond: 0, waiting: [], running: [] }));
      return found;
    };
    for (const [task, times] of this.starts) {
      const recent = times.filter((t) => t > now - RATE_WINDOW_MS).length;
      entry(task).startedPerSecond = recent / (RATE_WINDOW_MS / 1000);
    }
    for (const { task, key, reason } of this.waitingOn.values()) {
      const state = entry(task);
      const shown = userKey(task, key);
      const same = state.waiting.find((w) => w.key === shown && w.reason === reason);
      if (same) same.count++;
      else state.waiting.push({ key: shown, reason, count: 1 });
    }
    for (const lease of this.leases) {
      const task = [...this.gates.keys()].find((name) => lease.key.startsWith(`${name}:`));
      if (task === undefined) continue;
      const state = entry(task);
      const shown = userKey(task, lease.key);
      const same = state.running.find((r) => r.key === shown);
      if (same) same.count++;
      else state.running.push({ key: shown, count: 1 });
    }
    return [...byTask.values()].sort((a, b) => (a.task < b.task ? -1 : 1));
  }

  private noteStart(task: string, now: number): void {
    let times = this.starts.get(task);
    if (!times) this.starts.set(task, (times = []));
    times.push(now);
    let drop = 0;
    while (drop < times.length && times[drop]! <= now - RATE_WINDOW_MS) drop++;
    if (drop > 0) times.splice(0, drop);
  }

  /** Stops renewing leases and closes the store (slots still held end with their lease). */
  async close(): Promise<void> {
    const unwatch = this.unwatch;
    this.unwatch = undefined;
    await unwatch?.().catch(() => undefined);
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    const leases = [...this.leases];
    this.leases.clear();
    this.released.clear();
    this.waitingOn.clear();
    for (const lease of leases) await this.release(lease);
    await this.store?.close().catch(() => undefined);
  }

  /**
   * Takes a token from the worker's own bucket and the shared one: taken (now, or booked
   * `waitMs` ahead) only when both gave one; else `waitMs` says when to ask again.
   */
  private async takeTokens(
    gate: FlowGate,
    rateKey: string | undefined,
    throttleKey: string | undefined,
    now: number,
  ): Promise<TakeResult> {
    let outcome: TakeResult = { taken: true, waitMs: 0 };
    const both = (other: TakeResult): void => {
      outcome = {
        taken: outcome.taken && other.taken,
        waitMs: Math.max(outcome.waitMs, other.waitMs),
      };
    };
    if (gate.workerRate) outcome = this.takeLocal(`${gate.name}\u0000worker`, gate.workerRate, now);
    if (gate.rate && rateKey !== undefined)
      both(
        gate.rate.local
          ? this.takeLocal(rateKey, gate.rate.spec, now)
          : await this.store!.take(rateKey, gate.rate.spec, now, RESERVE_MS),
      );
    if (gate.throttle && throttleKey !== undefined)
      both(await this.store!.take(throttleKey, gate.throttle.spec, now, RESERVE_MS));
    return outcome;
  }

  /** A token of this worker's own bucket, booked up to the reserve window ahead. */
  private takeLocal(key: string, spec: RateSpec, now: number): TakeResult {
    const { state, result } = takeToken(this.localBuckets.get(key), spec, now, RESERVE_MS);
    this.localBuckets.set(key, state);
    return result;
  }

  /**
   * Every slot is held: the delivery waits, woken when a slot of the key is released (by
   * this worker, or anywhere the store's `watchReleases` hears), else retried with a backoff
   * (a lease that ends unreleased, a release the store cannot announce).
   */
  private waitForSlot(key: string, delivery: Delivery, task: string, reason: WaitReason): void {
    const misses = (this.slotMisses.get(delivery) ?? 0) + 1;
    this.slotMisses.set(delivery, misses);
    let waiters = this.slotWaiters.get(key);
    if (!waiters) this.slotWaiters.set(key, (waiters = new Set()));
    waiters.add(delivery);
    const backoff = Math.min(SLOT_RETRY_MAX_MS, SLOT_RETRY_MIN_MS * 2 ** (misses - 1));
    this.hold(delivery, Date.now() + backoff * (0.5 + Math.random() / 2), { task, key, reason });
  }

  /** Hands a delivery to the worker to hold outside its slots, and lets the consumer fetch past it. */
  private hold(
    delivery: Delivery,
    dueAt: number,
    why: { task: string; key: string; reason: WaitReason } | undefined,
  ): void {
    if (why) this.waitingOn.set(delivery, why);
    if (!this.released.has(delivery) && this.released.size < MAX_RELEASED) {
      this.released.add(delivery);
      delivery.release();
    }
    this.hooks.hold(delivery, dueAt);
  }

  private async release(lease: SlotLease): Promise<void> {
    try {
      await this.store!.release(lease.key, lease.holder);
    } catch (error) {
      this.logger.warn(
        `Could not free a concurrency slot of ${lease.key} (it frees when its lease ends): ${(error as Error).message}`,
      );
    }
  }

  /** Renews every held lease a third of the shortest lease before it would end. */
  private scheduleRenewals(): void {
    const leaseMs = Math.min(
      ...[...this.gates.values()].flatMap((g) => [
        g.concurrency?.leaseMs ?? Infinity,
        g.singleton?.leaseMs ?? Infinity,
      ]),
    );
    if (!Number.isFinite(leaseMs)) return;
    const every = Math.max(50, leaseMs / 3);
    const tick = async (): Promise<void> => {
      if (this.leases.size > 0) {
        try {
          await this.store!.renew([...this.leases], leaseMs, Date.now());
        } catch (error) {
          this.logger.warn(`Could not renew concurrency slots: ${(error as Error).message}`);
        }
      }
      if (this.renewTimer) this.renewTimer = setTimeout(() => void tick(), every).unref();
    };
    this.renewTimer = setTimeout(() => void tick(), every).unref();
  }

  private async refuse(gate: FlowGate, delivery: Delivery, error: Error): Promise<void> {
    this.waitingOn.delete(delivery);
    const reason = `the flow-control key of ${gate.name} could not be made: ${error.message}`;
    await delivery.reject({ requeue: false, reason }).catch(() => undefined);
    this.logger.error({ queue: delivery.queue }, `Rejected a task: ${reason}`);
  }
}

/** The gate a task's options make, or undefined when it declares no limit. */
function gateOf(task: Task<unknown[], unknown>): FlowGate | undefined {
  const { rateLimit, concurrency } = task.options;
  let rate: SharedRate | undefined;
  let workerRate: RateSpec | null = null;
  if (rateLimit !== undefined) {
    if (typeof rateLimit === 'string' || typeof rateLimit === 'number') {
      workerRate = parseRate(rateLimit);
    } else {
      const spec = parseRate(rateLimit.rate, rateLimit.burst ?? 1);
      const key = rateLimit.key?.bind(rateLimit) as SharedRate['key'];
      if (spec) rate = { spec, key, local: rateLimit.scope === 'worker' };
    }
  }
  let limit: Concurrency | undefined;
  if (concurrency !== undefined) {
    const options = typeof concurrency === 'number' ? { limit: concurrency } : concurrency;
    if (!Number.isInteger(options.limit) || options.limit < 1)
      throw new CeleriacError(
        `Task ${task.name}: concurrency limit must be an integer >= 1, got ${options.limit}`,
      );
    limit = {
      limit: options.limit,
      key: ('key' in options ? options.key?.bind(options) : undefined) as Concurrency['key'],
      leaseMs: ('leaseMs' in options ? options.leaseMs : undefined) ?? DEFAULT_LEASE_MS,
    };
  }
  const gate = new FlowGate(task.name, rate, limit, extrasOf(task));
  gate.workerRate = workerRate;
  return gate.empty ? undefined : gate;
}

/** A task's throttle, singleton, debounce and fairness, checked. */
function extrasOf(task: Task<unknown[], unknown>): Extras {
  const { throttle, singleton, debounce, fairness } = task.options;
  const extras: Extras = { debounce: debounce !== undefined, fairness: fairness !== undefined };
  if (throttle !== undefined) {
    if (!(throttle.period > 0))
      throw new CeleriacError(
        `Task ${task.name}: throttle period must be seconds > 0, got ${throttle.period}`,
      );
    extras.throttle = {
      spec: { tokens: 1, perMs: throttle.period * 1000, burst: 1 },
      key: throttle.key?.bind(throttle) as Throttle['key'],
      drop: (throttle.mode ?? 'drop') === 'drop',
    };
  }
  if (singleton !== undefined) {
    const options = singleton === true ? {} : singleton;
    extras.singleton = {
      key: options.key?.bind(options) as Singleton['key'],
      leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
      drop: options.mode === 'drop',
    };
  }
  return extras;
}

/** The user's key in a store key `<task>:<kind>:<key>` (null for `<task>:<kind>`). */
function userKey(task: string, key: string): string | null {
  const rest = key.slice(task.length + 1);
  const colon = rest.indexOf(':');
  return colon === -1 ? null : rest.slice(colon + 1);
}

/** A limit's store key; undefined when the call skips the limit (`flow: { <limit>: false }`). */
function keyOf(
  task: string,
  kind: string,
  key: ((...args: unknown[]) => string) | undefined,
  args: unknown[],
  call?: string | false,
): string | undefined {
  if (call === false) return undefined;
  if (call !== undefined) return `${task}:${kind}:${call}`;
  if (!key) return `${task}:${kind}`;
  const value = key(...args);
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new TypeError(`the key function returned ${typeof value}, not a string`);
  return `${task}:${kind}:${String(value)}`;
}
