/**
 * A key-value store in this process's memory, for tests and examples: the primitives of
 * `KeyValueStore` over a Map, shared by every connection that names the same store, and
 * dropped when the last of them closes. Expired keys vanish when read or listed. Must
 * never outlive its process or pretend to be durable.
 */
import type { KeyExpectation, KeyValueStore, KeyWrite } from '../key-value/key-value-store.js';

interface Entry {
  value: string;
  /** Unix ms, or undefined for never. */
  expiresAt: number | undefined;
}

/** One named store: its keys, its channels and how many connections hold it. */
class SharedData {
  readonly values = new Map<string, Entry>();
  readonly channels = new Map<string, Set<(message: string) => void>>();
  connections = 0;
  writes = 0;

  read(key: string, now = Date.now()): string | undefined {
    const entry = this.values.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
      this.values.delete(key);
      return undefined;
    }
    return entry.value;
  }

  write(key: string, value: string | undefined, ttlMs: number | undefined): void {
    if (value === undefined) this.values.delete(key);
    else
      this.values.set(key, {
        value,
        expiresAt: ttlMs === undefined ? undefined : Date.now() + ttlMs,
      });
    // Keys nobody reads again would pile up: sweep the expired ones now and then.
    if (++this.writes % 1000 === 0) this.sweep();
  }

  sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.values)
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.values.delete(key);
  }
}

const stores = new Map<string, SharedData>();

export class MemoryKeyValueStore implements KeyValueStore {
  private data: SharedData | undefined;
  private readonly subscriptions = new Set<() => void>();

  /** @param name the store's name within this process (`memory://<name>`). */
  constructor(readonly name: string) {}

  private get shared(): SharedData {
    if (!this.data)
      throw new Error(`The memory store "${this.name}" is not connected: call connect() first.`);
    return this.data;
  }

  connect(): Promise<void> {
    if (!this.data) {
      let data = stores.get(this.name);
      if (!data) stores.set(this.name, (data = new SharedData()));
      data.connections += 1;
      this.data = data;
    }
    return Promise.resolve();
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.shared.read(key));
  }

  mget(keys: readonly string[]): Promise<Array<string | undefined>> {
    const now = Date.now();
    return Promise.resolve(keys.map((key) => this.shared.read(key, now)));
  }

  set(key: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    this.shared.write(key, value, options.ttlMs);
    return Promise.resolve();
  }

  delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.shared.values.delete(key);
    return Promise.resolve();
  }

  incr(key: string): Promise<number> {
    const entry = this.shared.values.get(key);
    const next = (Number(this.shared.read(key) ?? 0) || 0) + 1;
    this.shared.write(key, String(next), undefined);
    // INCR keeps the key's time to live, as Redis does.
    if (entry?.expiresAt !== undefined)
      this.shared.values.set(key, { value: String(next), expiresAt: entry.expiresAt });
    return Promise.resolve(next);
  }

  compareAndSet(expect: readonly KeyExpectation[], writes: readonly KeyWrite[]): Promise<boolean> {
    const shared = this.shared;
    // One synchronous step: nothing else in this process can run between the checks and the writes.
    if (!expect.every(({ key, value }) => shared.read(key) === value))
      return Promise.resolve(false);
    for (const { key, value, ttlMs } of writes) shared.write(key, value, ttlMs);
    return Promise.resolve(true);
  }

  keys(prefix: string): Promise<string[]> {
    const shared = this.shared;
    const now = Date.now();
    const found: string[] = [];
    for (const key of [...shared.values.keys()])
      if (key.startsWith(prefix) && shared.read(key, now) !== undefined) found.push(key);
    return Promise.resolve(found);
  }

  publish(channel: string, message: string): Promise<void> {
    const listeners = this.shared.channels.get(channel);
    // Delivered after the publisher's turn, as a real server would, and only to who still listens.
    if (listeners)
      for (const listener of [...listeners])
        queueMicrotask(() => listeners.has(listener) && listener(message));
    return Promise.resolve();
  }

  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    const shared = this.shared;
    let listeners = shared.channels.get(channel);
    if (!listeners) shared.channels.set(channel, (listeners = new Set()));
    const own = (message: string) => listener(message);
    listeners.add(own);
    const remove = () => {
      listeners.delete(own);
      if (listeners.size === 0 && shared.channels.get(channel) === listeners)
        shared.channels.delete(channel);
      this.subscriptions.delete(remove);
    };
    this.subscriptions.add(remove);
    return Promise.resolve(() => {
      remove();
      return Promise.resolve();
    });
  }

  close(): Promise<void> {
    const data = this.data;
    if (!data) return Promise.resolve();
    for (const remove of [...this.subscriptions]) remove();
    this.data = undefined;
    data.connections -= 1;
    if (data.connections === 0 && stores.get(this.name) === data) stores.delete(this.name);
    return Promise.resolve();
  }
}
