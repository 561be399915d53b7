/**
 * Flow control on the worker's side: before a task takes a slot, its rate limits and
 * concurrency limits are asked. A task that may not start yet is handed back to the
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

/** What the worker lends flow control: holding a delivery outside its slots, and waking it early. */
export interface FlowHooks {
  hold(delivery: Delivery, dueAt: number): void;
  wake(delivery: Delivery): void;
}

/** A run let through: the slot it holds (if any), to give back with `leave`. */
export interface FlowTicket {
  readonly lease: SlotLease | undefined;
}

const NO_SLOT: FlowTicket = { lease: undefined };
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

/** One task's limits as this worker applies them. */
export class FlowGate {
  /** Set by `worker.setRateLimit` (Celery's remote `rate_limit`): this worker only. */
  workerRate: RateSpec | null = null;

  constructor(
    readonly name: string,
    readonly rate: SharedRate | undefined,
    readonly concurrency: Concurrency | undefined,
  ) {}

  get empty(): boolean {
    return this.workerRate === null && this.rate === undefined && this.concurrency === undefined;
  }
}

export class FlowControl {
  private readonly gates = new Map<string, FlowGate>();
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
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly holderPrefix: string;
  private seq = 0;

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
    const needsStore = gates.filter((g) => g.concurrency || (g.rate && !g.rate.local));
    let store: FlowStore | undefined;
    if (needsStore.length > 0) {
      store = backend?.flowStore?.();
      if (!store)
        throw new FlowStoreUnavailableError(
          `The shared rate or concurrency limit of task(s) ${needsStore.map((g) => g.name).join(', ')}` +
            ` (a per-worker rateLimit such as '10/s' needs none)`,
          backend?.kind ?? 'none',
        );
      await store.open();
    }
    const flow = new FlowControl(store, hooks, logger, hostname);
    for (const gate of gates) flow.gates.set(gate.name, gate);
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

  /**
   * Asks the gate's limits whether `delivery` may run now. Null: it may not, and it has
   * been handed to the worker to hold (or refused, when its key could not be made).
   */
  async enter(gate: FlowGate, delivery: Delivery, args: unknown[]): Promise<FlowTicket | null> {
    let rateKey: string | undefined;
    let slotKey: string | undefined;
    try {
      if (gate.rate) rateKey = keyOf(gate.name, 'rate', gate.rate.key, args);
      if (gate.concurrency) slotKey = keyOf(gate.name, 'conc', gate.concurrency.key, args);
    } catch (error) {
      await this.refuse(gate, delivery, error as Error);
      return null;
    }
    const now = Date.now();
    // A token booked earlier is this delivery's; it runs once the token is due.
    const bookedAt = this.booked.get(delivery);
    if (bookedAt !== undefined && bookedAt > now + DUE_SLACK_MS) {
      this.hold(delivery, bookedAt);
      return null;
    }
    let lease: SlotLease | undefined;
    if (slotKey !== undefined) {
      const { limit, leaseMs } = gate.concurrency!;
      const holder = `${this.holderPrefix}${++this.seq}`;
      if (!(await this.store!.acquire(slotKey, holder, limit, leaseMs, now))) {
        this.waitForSlot(slotKey, delivery);
        return null;
      }
      lease = { key: slotKey, holder };
      this.slotMisses.delete(delivery);
      this.slotWaiters.get(slotKey)?.delete(delivery);
    }
    if (bookedAt === undefined) {
      const { taken, waitMs } = await this.takeTokens(gate, rateKey, now);
      if (waitMs > DUE_SLACK_MS) {
        if (lease) await this.release(lease);
        if (taken) this.booked.set(delivery, now + waitMs);
        this.hold(delivery, now + waitMs);
        return null;
      }
    } else {
      this.booked.delete(delivery);
    }
    this.released.delete(delivery);
    if (!lease) return NO_SLOT;
    this.leases.add(lease);
    return { lease };
  }

  /** The run of a ticket ended: its slot goes back, and a delivery waiting here for it is woken. */
  async leave(ticket: FlowTicket): Promise<void> {
    const { lease } = ticket;
    if (!lease) return;
    this.leases.delete(lease);
    await this.release(lease);
    const waiters = this.slotWaiters.get(lease.key);
    if (waiters) {
      const [next] = waiters;
      if (next) {
        waiters.delete(next);
        this.hooks.wake(next);
      }
      if (waiters.size === 0) this.slotWaiters.delete(lease.key);
    }
  }

  /** Stops renewing leases and closes the store (slots still held end with their lease). */
  async close(): Promise<void> {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    const leases = [...this.leases];
    this.leases.clear();
    this.released.clear();
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
    now: number,
  ): Promise<TakeResult> {
    let outcome: TakeResult = { taken: true, waitMs: 0 };
    if (gate.workerRate) outcome = this.takeLocal(`${gate.name}\u0000worker`, gate.workerRate, now);
    if (gate.rate && rateKey !== undefined) {
      const shared = gate.rate.local
        ? this.takeLocal(rateKey, gate.rate.spec, now)
        : await this.store!.take(rateKey, gate.rate.spec, now, RESERVE_MS);
      outcome = {
        taken: outcome.taken && shared.taken,
        waitMs: Math.max(outcome.waitMs, shared.waitMs),
      };
    }
    return outcome;
  }

  /** A token of this worker's own bucket, booked up to the reserve window ahead. */
  private takeLocal(key: string, spec: RateSpec, now: number): TakeResult {
    const { state, result } = takeToken(this.localBuckets.get(key), spec, now, RESERVE_MS);
    this.localBuckets.set(key, state);
    return result;
  }

  /**
   * Every slot is held: the delivery waits, woken when this worker frees one of the key's
   * slots, else retried with a backoff (a slot freed by another worker is not announced).
   */
  private waitForSlot(key: string, delivery: Delivery): void {
    const misses = (this.slotMisses.get(delivery) ?? 0) + 1;
    this.slotMisses.set(delivery, misses);
    let waiters = this.slotWaiters.get(key);
    if (!waiters) this.slotWaiters.set(key, (waiters = new Set()));
    waiters.add(delivery);
    const backoff = Math.min(SLOT_RETRY_MAX_MS, SLOT_RETRY_MIN_MS * 2 ** (misses - 1));
    this.hold(delivery, Date.now() + backoff * (0.5 + Math.random() / 2));
  }

  /** Hands a delivery to the worker to hold outside its slots, and lets the consumer fetch past it. */
  private hold(delivery: Delivery, dueAt: number): void {
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
      ...[...this.gates.values()].map((g) => g.concurrency?.leaseMs ?? Infinity),
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
  const gate = new FlowGate(task.name, rate, limit);
  gate.workerRate = workerRate;
  return gate.empty ? undefined : gate;
}

function keyOf(
  task: string,
  kind: string,
  key: ((...args: unknown[]) => string) | undefined,
  args: unknown[],
): string {
  if (!key) return `${task}:${kind}`;
  const value = key(...args);
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new TypeError(`the key function returned ${typeof value}, not a string`);
  return `${task}:${kind}:${String(value)}`;
}
