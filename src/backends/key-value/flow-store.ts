/**
 * The flow store on a key-value store: one key per bucket, slot set or claim, holding
 * its state as JSON and expiring once it means nothing (a full bucket, a set whose leases
 * all ended, a claim past its window). Each change is a read then a compare-and-set,
 * retried when another writer came first, so every step is atomic on any store that
 * implements `compareAndSet`.
 */
import {
  bucketTtlMs,
  takeToken,
  tokensAt,
  type BucketState,
  type FlowEntry,
  type FlowStore,
  type RateSpec,
  type SlotLease,
  type TakeResult,
} from '../flow-store.js';
import type { KeyValueStore } from './key-value-store.js';

/** What one key holds: a bucket, slot leases (holder -> expiry ms), or a claim. */
interface Stored {
  b?: BucketState;
  s?: Record<string, number>;
  c?: { id: string; until: number };
}

export class KeyValueFlowStore implements FlowStore {
  constructor(
    private readonly store: KeyValueStore,
    private readonly keyPrefix: string,
  ) {}

  open(): Promise<void> {
    return Promise.resolve();
  }

  /** Reads `key`, lets `change` decide the new value (undefined deletes), writes it if nobody wrote meanwhile. */
  private async update<T>(
    key: string,
    change: (stored: Stored | undefined) => { next: Stored | undefined; ttlMs: number; out: T },
  ): Promise<T> {
    const full = this.keyPrefix + key;
    for (;;) {
      const text = await this.store.get(full);
      const { next, ttlMs, out } = change(
        text === undefined ? undefined : (JSON.parse(text) as Stored),
      );
      const value = next === undefined ? undefined : JSON.stringify(next);
      if (value === text) return out;
      const write = value === undefined ? { key: full, value } : { key: full, value, ttlMs };
      if (await this.store.compareAndSet([{ key: full, value: text }], [write])) return out;
    }
  }

  take(key: string, rate: RateSpec, now: number, reserveMs = 0): Promise<TakeResult> {
    return this.update(key, (stored) => {
      const { state, result } = takeToken(stored?.b, rate, now, reserveMs);
      return { next: { b: state }, ttlMs: bucketTtlMs(state), out: result };
    });
  }

  acquire(
    key: string,
    holder: string,
    limit: number,
    leaseMs: number,
    now: number,
  ): Promise<boolean> {
    return this.update(key, (stored) => {
      const leases = liveLeases(stored?.s, now);
      const holds = holder in leases;
      if (!holds && Object.keys(leases).length >= limit)
        return { next: stored, ttlMs: leaseMs, out: false };
      leases[holder] = now + leaseMs;
      return { next: { s: leases }, ttlMs: maxExpiry(leases) - now, out: true };
    });
  }

  async renew(leases: readonly SlotLease[], leaseMs: number, now: number): Promise<void> {
    for (const { key, holder } of leases) {
      await this.update(key, (stored) => {
        const live = liveLeases(stored?.s, now);
        if (!(holder in live)) return { next: stored, ttlMs: 0, out: undefined };
        live[holder] = now + leaseMs;
        return { next: { s: live }, ttlMs: maxExpiry(live) - now, out: undefined };
      });
    }
  }

  release(key: string, holder: string): Promise<void> {
    return this.update(key, (stored) => {
      if (!stored?.s || !(holder in stored.s)) return { next: stored, ttlMs: 0, out: undefined };
      const rest = { ...stored.s };
      delete rest[holder];
      const left = Object.keys(rest).length > 0;
      return {
        next: left ? { s: rest } : undefined,
        ttlMs: left ? Math.max(1, maxExpiry(rest) - Date.now()) : 0,
        out: undefined,
      };
    });
  }

  claim(key: string, taskId: string, windowMs: number, now: number): Promise<string> {
    return this.update(key, (stored) => {
      if (stored?.c && stored.c.until > now) return { next: stored, ttlMs: 0, out: stored.c.id };
      return { next: { c: { id: taskId, until: now + windowMs } }, ttlMs: windowMs, out: taskId };
    });
  }

  unclaim(key: string, taskId: string): Promise<void> {
    return this.update(key, (stored) =>
      stored?.c?.id === taskId
        ? { next: undefined, ttlMs: 0, out: undefined }
        : { next: stored, ttlMs: 0, out: undefined },
    );
  }

  async inspect(prefix: string, now: number): Promise<FlowEntry[]> {
    const keys = (await this.store.keys(this.keyPrefix + prefix)).sort();
    const values = await this.store.mget(keys);
    const entries: FlowEntry[] = [];
    keys.forEach((full, i) => {
      const text = values[i];
      if (text === undefined) return;
      const entry = toEntry(full.slice(this.keyPrefix.length), JSON.parse(text) as Stored, now);
      if (entry) entries.push(entry);
    });
    return entries;
  }

  /** The store belongs to the backend, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function liveLeases(
  leases: Record<string, number> | undefined,
  now: number,
): Record<string, number> {
  const live: Record<string, number> = {};
  if (leases)
    for (const [holder, until] of Object.entries(leases)) if (until > now) live[holder] = until;
  return live;
}

function maxExpiry(leases: Record<string, number>): number {
  return Math.max(...Object.values(leases));
}

function toEntry(key: string, stored: Stored, now: number): FlowEntry | undefined {
  if (stored.b) {
    const tokens = tokensAt(stored.b, now);
    return tokens < stored.b.burst ? { key, kind: 'bucket', tokens } : undefined;
  }
  if (stored.s) {
    const held = Object.keys(liveLeases(stored.s, now)).length;
    return held > 0 ? { key, kind: 'slots', held } : undefined;
  }
  if (stored.c && stored.c.until > now) return { key, kind: 'claim', taskId: stored.c.id };
  return undefined;
}
