/**
 * The flow store on a key-value store: one key per bucket, slot set, claim, debounce
 * window or fairness group (the whole group in one value: fine for memory:// and modest
 * backlogs, as each step rewrites it), holding its state as JSON and expiring once it means nothing (a full bucket, a set whose leases
 * all ended, a claim past its window). Each change is a read then a compare-and-set,
 * retried when another writer came first, so every step is atomic on any store that
 * implements `compareAndSet`.
 */
import {
  bucketTtlMs,
  takeToken,
  tokensAt,
  type BucketState,
  type DebounceResult,
  type DebounceTake,
  type FairItem,
  type FlowEntry,
  type FlowStore,
  type RateSpec,
  type SlotLease,
  type TakeResult,
} from '../flow-store.js';
import type { KeyValueStore } from './key-value-store.js';

/** A fairness group: the rotation (served from the front), queued ids per key, payloads, taken ids per token. */
interface FairGroup {
  ring: string[];
  q: Record<string, string[]>;
  p: Record<string, string>;
  t: Record<string, string>;
}

/**
 * What one key holds: a bucket, slot leases (holder -> expiry ms), a claim, a debounce
 * window (`d`), the payload a debounce window ran with (`r`), or a fairness group (`f`).
 */
interface Stored {
  b?: BucketState;
  s?: Record<string, number>;
  c?: { id: string; until: number };
  d?: { id: string; payload: string; due: number; until: number };
  r?: { payload: string; until: number };
  f?: FairGroup;
}

const NO_TTL = 0;

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
    change: (stored: Stored | undefined) => {
      next: Stored | undefined;
      /** Until the key expires; NO_TTL (0): never. */
      ttlMs: number;
      out: T;
    },
  ): Promise<T> {
    const full = this.keyPrefix + key;
    for (;;) {
      const text = await this.store.get(full);
      const { next, ttlMs, out } = change(
        text === undefined ? undefined : (JSON.parse(text) as Stored),
      );
      const value = next === undefined ? undefined : JSON.stringify(next);
      if (value === text) return out;
      const write =
        value === undefined || ttlMs <= NO_TTL ? { key: full, value } : { key: full, value, ttlMs };
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

  async release(key: string, holder: string): Promise<void> {
    const freed = await this.update(key, (stored) => {
      if (!stored?.s || !(holder in stored.s)) return { next: stored, ttlMs: 0, out: false };
      const rest = { ...stored.s };
      delete rest[holder];
      const left = Object.keys(rest).length > 0;
      return {
        next: left ? { s: rest } : undefined,
        ttlMs: left ? Math.max(1, maxExpiry(rest) - Date.now()) : 0,
        out: true,
      };
    });
    if (freed) await this.store.publish(this.releases, key);
  }

  /** Releases are published on the store's own publish/subscribe, heard by every process. */
  watchReleases(onRelease: (key: string) => void): Promise<() => Promise<void>> {
    return this.store.subscribe(this.releases, onRelease);
  }

  private get releases(): string {
    return `${this.keyPrefix}released`;
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

  debounce(
    key: string,
    taskId: string,
    payload: string,
    quietMs: number,
    now: number,
    keepMs: number,
  ): Promise<DebounceResult> {
    return this.update(key, (stored) => {
      const due = now + quietMs;
      const open = stored?.d && stored.d.until > now ? stored.d : undefined;
      const id = open ? open.id : taskId;
      return {
        next: { d: { id, payload, due, until: due + keepMs } },
        ttlMs: quietMs + keepMs,
        out: { taskId: id, opened: !open },
      };
    });
  }

  async debounceTake(
    key: string,
    taskId: string,
    now: number,
    keepMs: number,
  ): Promise<DebounceTake> {
    const ranKey = `${key}\u001fran\u001f${taskId}`; // no NUL: PostgreSQL text refuses it
    const ran = await this.store.get(this.keyPrefix + ranKey);
    const kept = ran === undefined ? undefined : (JSON.parse(ran) as Stored).r;
    if (kept && kept.until > now) return { kind: 'run', payload: kept.payload };
    const found = await this.update(key, (stored) => {
      const open = stored?.d;
      if (!open || open.id !== taskId || open.until <= now)
        return { next: stored, ttlMs: NO_TTL, out: undefined };
      if (open.due > now) return { next: stored, ttlMs: NO_TTL, out: open };
      return { next: undefined, ttlMs: NO_TTL, out: open };
    });
    if (!found) return { kind: 'unknown' };
    if (found.due > now) return { kind: 'wait', dueAt: found.due };
    // Closed above; what it ran with is kept for a redelivery (written after: a crash in
    // between runs the message as sent, as an unknown window does).
    await this.store.compareAndSet(
      [],
      [
        {
          key: this.keyPrefix + ranKey,
          value: JSON.stringify({ r: { payload: found.payload, until: now + keepMs } }),
          ttlMs: keepMs,
        },
      ],
    );
    return { kind: 'run', payload: found.payload };
  }

  debounceDrop(key: string, taskId: string): Promise<void> {
    return this.update(key, (stored) => ({
      next: stored?.d?.id === taskId ? undefined : stored,
      ttlMs: NO_TTL,
      out: undefined,
    }));
  }

  fairPush(group: string, key: string, id: string, payload: string): Promise<void> {
    return this.updateGroup(group, (g) => {
      const queue = (g.q[key] ??= []);
      if (queue.length === 0) {
        g.ring = g.ring.filter((k) => k !== key);
        g.ring.unshift(key);
      }
      queue.push(id);
      g.p[id] = payload;
      return undefined;
    });
  }

  fairRemove(group: string, key: string, id: string): Promise<void> {
    return this.updateGroup(group, (g) => {
      const queue = g.q[key];
      const at = queue ? queue.indexOf(id) : -1;
      if (!queue || at === -1) return undefined;
      queue.splice(at, 1);
      delete g.p[id];
      if (queue.length === 0) {
        delete g.q[key];
        g.ring = g.ring.filter((k) => k !== key);
      }
      return undefined;
    });
  }

  fairTake(group: string, token: string): Promise<FairItem | undefined> {
    return this.updateGroup(group, (g): FairItem | undefined => {
      const had = g.t[token];
      if (had !== undefined) return { id: had, payload: g.p[had] ?? '' };
      const key = g.ring.shift();
      if (key === undefined) return undefined;
      const queue = g.q[key] ?? [];
      const id = queue.shift();
      if (queue.length > 0) g.ring.push(key);
      else delete g.q[key];
      if (id === undefined) return undefined;
      g.t[token] = id;
      return { id, payload: g.p[id] ?? '' };
    });
  }

  fairDone(group: string, token: string): Promise<void> {
    return this.updateGroup(group, (g) => {
      const id = g.t[token];
      if (id === undefined) return undefined;
      delete g.t[token];
      delete g.p[id];
      return undefined;
    });
  }

  /** One atomic change of a fairness group; an emptied group is deleted. */
  private updateGroup<T>(group: string, change: (g: FairGroup) => T): Promise<T> {
    return this.update(group, (stored) => {
      const g: FairGroup = stored?.f
        ? (JSON.parse(JSON.stringify(stored.f)) as FairGroup)
        : { ring: [], q: {}, p: {}, t: {} };
      const out = change(g);
      const empty = g.ring.length === 0 && Object.keys(g.t).length === 0;
      return { next: empty ? undefined : { f: g }, ttlMs: NO_TTL, out };
    });
  }

  async inspect(prefix: string, now: number): Promise<FlowEntry[]> {
    const keys = (await this.store.keys(this.keyPrefix + prefix)).sort();
    const values = await this.store.mget(keys);
    const entries: FlowEntry[] = [];
    keys.forEach((full, i) => {
      const text = values[i];
      if (text === undefined) return;
      entries.push(
        ...toEntries(full.slice(this.keyPrefix.length), JSON.parse(text) as Stored, now),
      );
    });
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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

function toEntries(key: string, stored: Stored, now: number): FlowEntry[] {
  if (stored.b) {
    const tokens = tokensAt(stored.b, now);
    return tokens < stored.b.burst ? [{ key, kind: 'bucket', tokens }] : [];
  }
  if (stored.s) {
    const held = Object.keys(liveLeases(stored.s, now)).length;
    return held > 0 ? [{ key, kind: 'slots', held }] : [];
  }
  if (stored.c && stored.c.until > now) return [{ key, kind: 'claim', taskId: stored.c.id }];
  if (stored.d && stored.d.until > now)
    return [{ key, kind: 'debounce', taskId: stored.d.id, dueAt: stored.d.due }];
  if (stored.f)
    return Object.entries(stored.f.q)
      .filter(([, ids]) => ids.length > 0)
      .map(([k, ids]) => ({ key: `${key}:${k}`, kind: 'fair', waiting: ids.length }));
  return [];
}
