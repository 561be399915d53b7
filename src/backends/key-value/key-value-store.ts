/**
 * The primitives a key-value store implements to become a full result backend (results,
 * revocations, worker registry and beat store, derived once in this folder): string
 * values with an optional time to live, an atomic counter, an atomic compare-and-set over
 * a few keys, a prefix listing, and a small publish/subscribe. A store never interprets
 * the values it holds.
 */

/** One key's expected value in a compare-and-set; `undefined` means the key must be absent. */
export interface KeyExpectation {
  key: string;
  value: string | undefined;
}

/** One write of a compare-and-set; `value: undefined` deletes the key. */
export interface KeyWrite {
  key: string;
  value: string | undefined;
  /** Milliseconds until the key expires. Default: never. */
  ttlMs?: number;
}

export interface KeyValueStore {
  /** Opens what the store needs; safe to call twice. */
  connect(): Promise<void>;
  /** The value, or `undefined` when the key is absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** The values of many keys, in order. */
  mget(keys: readonly string[]): Promise<Array<string | undefined>>;
  /** Stores `value`, replacing any value and time to live the key had. */
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  /** Adds one to the integer at `key` (0 when absent) and returns the new value, atomically. */
  incr(key: string): Promise<number>;
  /**
   * Atomically: when every expectation holds, applies every write and returns true; else
   * writes nothing and returns false. The one primitive leases and claims are built on.
   */
  compareAndSet(expect: readonly KeyExpectation[], writes: readonly KeyWrite[]): Promise<boolean>;
  /** Every live key that starts with `prefix`, in no particular order. */
  keys(prefix: string): Promise<string[]>;
  /**
   * Optional: `set(key, value)` then `publish(key, value)` in one step (one round trip, and
   * where the store can, batched with the other calls of the same turn). Without it the
   * base calls the two in turn.
   */
  setAndPublish?(key: string, value: string, options?: { ttlMs?: number }): Promise<void>;
  /** Sends `message` to every subscriber of `channel`, in any process sharing the store. */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `listener` with each message published on `channel` from now on. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
