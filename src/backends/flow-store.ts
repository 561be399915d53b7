/**
 * The contract of a flow store: the shared state flow control (src/flow/) keeps across
 * every worker — token buckets for rate limits and throttles, leased slots for concurrency
 * limits and singletons, claimed keys for idempotent enqueue, debounce windows, and the
 * per-key queues fairness serves round-robin. Implemented beside each result backend (SQLite,
 * Redis, the key-value base), each method one atomic step. A store never decides what a
 * limit is or when a task runs: it counts. Times are the caller's clock (unix ms), as in
 * the beat store, so every host must keep reasonable time.
 */

/** A token bucket: `tokens` added every `perMs`, holding at most `burst`. */
export interface RateSpec {
  tokens: number;
  perMs: number;
  /** The bucket's size: how many may start at once after a quiet spell. */
  burst: number;
}

/** One held slot: which limit (`key`) and who holds it (`holder`, unique per run). */
export interface SlotLease {
  key: string;
  holder: string;
}

/** What a store holds under a prefix, for `app.flow.state()` and the dashboard. */
export interface FlowEntry {
  key: string;
  kind: 'bucket' | 'slots' | 'claim' | 'debounce' | 'fair';
  /** bucket: tokens left now (refilled to `now`, fractional). */
  tokens?: number;
  /** slots: live leases (expired ones not counted). */
  held?: number;
  /** claim, debounce: the task id the key is claimed for (debounce: the open window's). */
  taskId?: string;
  /** debounce: when the open window's quiet period ends (unix ms), unless called again. */
  dueAt?: number;
  /** fair: tasks of the key waiting for their turn (not yet taken by a worker). */
  waiting?: number;
}

/** What `debounce` did: the open window's task id, and whether this call opened it. */
export interface DebounceResult {
  taskId: string;
  /** True: a new window, so the caller sends its message; false: an open one took the call. */
  opened: boolean;
}

/**
 * What `debounceTake` found for a debounced task's message: wait until `dueAt` (called
 * again meanwhile); run with the last call's `payload` (now, or again after a crash); or
 * nothing known of it (its window expired): the caller runs the message as sent.
 */
export type DebounceTake =
  { kind: 'wait'; dueAt: number } | { kind: 'run'; payload: string } | { kind: 'unknown' };

/** A task fairness handed a worker: its id and the message stored with it. */
export interface FairItem {
  id: string;
  payload: string;
}

/**
 * The outcome of `take`. `taken`: the token is the caller's from `now + waitMs` (0: at
 * once), reserved so no one else gets it. Not taken: none within the reserve window;
 * `waitMs` says when to ask again.
 */
export interface TakeResult {
  taken: boolean;
  waitMs: number;
}

export interface FlowStore {
  /** Creates tables or loads what it needs; safe to call twice. */
  open(): Promise<void>;
  /**
   * Takes one token from the bucket `key` (full when new). When none is there now but one
   * will be within `reserveMs`, takes it anyway (the bucket goes into debt) and says when
   * it is due: callers waiting on one bucket are then served in turn, one store call each,
   * instead of all retrying at the next token.
   */
  take(key: string, rate: RateSpec, now: number, reserveMs?: number): Promise<TakeResult>;
  /**
   * Takes one of `limit` slots of `key` for `holder` until `now + leaseMs`, once expired
   * leases are dropped. True when `holder` holds a slot (already holding one counts, and
   * renews it); false when all `limit` are held by others.
   */
  acquire(
    key: string,
    holder: string,
    limit: number,
    leaseMs: number,
    now: number,
  ): Promise<boolean>;
  /** Extends the leases still held to `now + leaseMs`; a lease already lost stays lost. */
  renew(leases: readonly SlotLease[], leaseMs: number, now: number): Promise<void>;
  /** Frees `holder`'s slot of `key` (no-op when it holds none), announced to `watchReleases`. */
  release(key: string, holder: string): Promise<void>;
  /**
   * Optional: calls `onRelease(key)` soon after a holder releases a slot of `key`, so a task
   * waiting for one starts at once instead of asking again later. How far it hears is the
   * store's: Redis and the key-value base (memory://, PostgreSQL) hear every process, SQLite
   * only this process. Resolves, once watching, to a function that stops. Releases it cannot
   * hear, and leases that end unreleased (a killed holder), are found by the waiter's slow
   * retry, as with a store without this member.
   */
  watchReleases?(onRelease: (key: string) => void): Promise<() => Promise<void>>;
  /**
   * Claims `key` for `taskId` until `now + windowMs`. Returns `taskId` when the claim is
   * new (or the old one expired), else the task id the key is already claimed for.
   */
  claim(key: string, taskId: string, windowMs: number, now: number): Promise<string>;
  /** Drops a claim, so the key can be claimed again at once. */
  unclaim(key: string, taskId: string): Promise<void>;
  /**
   * Debounce: a call of `key` at `now`. With no open window, opens one for `taskId` and
   * `payload`, due at `now + quietMs`; with one open, replaces its payload and moves its
   * due time to `now + quietMs`. Windows are kept `keepMs` past their due time at most.
   */
  debounce(
    key: string,
    taskId: string,
    payload: string,
    quietMs: number,
    now: number,
    keepMs: number,
  ): Promise<DebounceResult>;
  /**
   * Debounce: the message of window `taskId` of `key` arrived at `now`. Not due yet: wait.
   * Due: the window closes (a later call opens a new one) and its last payload is kept
   * `keepMs` under `taskId`, so a redelivery of the same message runs the same payload.
   */
  debounceTake(key: string, taskId: string, now: number, keepMs: number): Promise<DebounceTake>;
  /** Debounce: drops window `taskId` of `key` while open (its message could not be sent). */
  debounceDrop(key: string, taskId: string): Promise<void>;
  /**
   * Fairness: queues task `id` (its `payload`) under `key` of `group`. A key with nothing
   * queued joins the group's rotation so that it is served next.
   */
  fairPush(group: string, key: string, id: string, payload: string): Promise<void>;
  /** Fairness: drops a queued task whose message could not be sent (no-op once taken). */
  fairRemove(group: string, key: string, id: string): Promise<void>;
  /**
   * Fairness: the task `token` (a delivery's message id) runs. Asked again for the same
   * token, the same task (a redelivery after a crash); else the head of the next key in
   * the rotation, round-robin, taken for `token`. Undefined when nothing is queued.
   */
  fairTake(group: string, token: string): Promise<FairItem | undefined>;
  /** Fairness: the task taken for `token` ended; forgets it. */
  fairDone(group: string, token: string): Promise<void>;
  /** Every live entry whose key starts with `prefix`, read at `now`, sorted by key. */
  inspect(prefix: string, now: number): Promise<FlowEntry[]>;
  close(): Promise<void>;
}

/** A bucket as stored: tokens left at `at`, refilled at `rate` tokens per ms up to `burst`. */
export interface BucketState {
  tokens: number;
  at: number;
  rate: number;
  burst: number;
}

/**
 * The token bucket's arithmetic, shared by the stores that compute in JavaScript and the
 * per-worker limiter (the Redis script does the same in Lua): the bucket refilled to
 * `now` (full when new), then one token taken if there is one. Returns the new state and
 * how long until a token (0 when one was taken).
 */
export function takeToken(
  state: BucketState | undefined,
  rate: RateSpec,
  now: number,
  reserveMs = 0,
): { state: BucketState; result: TakeResult } {
  const perMs = rate.tokens / rate.perMs;
  const tokens = state ? tokensAt(state, now) : rate.burst;
  const waitMs = tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / perMs));
  const taken = waitMs <= reserveMs;
  return {
    state: { tokens: taken ? tokens - 1 : tokens, at: now, rate: perMs, burst: rate.burst },
    result: { taken, waitMs },
  };
}

/** Tokens in a stored bucket at `now`. */
export function tokensAt(state: BucketState, now: number): number {
  return Math.min(state.burst, state.tokens + Math.max(0, now - state.at) * state.rate);
}

/** How long a bucket must be kept: until it is full again, when it equals an absent one. */
export function bucketTtlMs(state: BucketState): number {
  return Math.ceil((state.burst - state.tokens) / state.rate) + 1000;
}
