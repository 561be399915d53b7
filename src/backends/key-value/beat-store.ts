/**
 * Beat's schedule store on a key-value store: one key per entry (its StoredEntry as JSON),
 * a leader key (owner, fencing token, lease end) and a token counter that only grows.
 * Every change is a compare-and-set retried on conflict, and a run is claimed (and
 * confirmed) by one compare-and-set over the leader key and the entry, so a deposed leader's claim fails
 * however the calls interleave. Must never send a task.
 */
import {
  syncCodeEntries,
  type BeatStore,
  type EntryDefinition,
  type StoredEntry,
} from '../beat-store.js';
import type { KeyValueStore } from './key-value-store.js';

interface Lease {
  owner: string;
  token: number;
  expiresAt: number;
}

/** An entry as stored: `pendingClaim` is "<owner>|<token>" of the pending run's claimant (see confirmRun). */
type StoredRecord = StoredEntry & { pendingClaim?: string | null };

export class KeyValueBeatStore implements BeatStore {
  private readonly entryPrefix: string;
  private readonly leaderKey: string;
  private readonly tokenKey: string;

  constructor(
    private readonly store: KeyValueStore,
    keyPrefix: string,
  ) {
    this.entryPrefix = `${keyPrefix}entry.`;
    this.leaderKey = `${keyPrefix}leader`;
    this.tokenKey = `${keyPrefix}token`;
  }

  private entryKey(name: string): string {
    return `${this.entryPrefix}${name}`;
  }

  open(): Promise<void> {
    return this.store.connect();
  }

  async list(): Promise<StoredEntry[]> {
    const values = await this.store.mget(await this.store.keys(this.entryPrefix));
    const entries = values.flatMap((value) =>
      value === undefined ? [] : [publicEntry(parseEntry(value))],
    );
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async get(name: string): Promise<StoredEntry | undefined> {
    const value = await this.store.get(this.entryKey(name));
    return value === undefined ? undefined : publicEntry(parseEntry(value));
  }

  async upsert(definition: EntryDefinition, now: number): Promise<void> {
    await this.update(definition.name, (existing) => {
      // An unchanged definition keeps its history; a changed one restarts its schedule at `now`.
      if (existing && definitionText(existing) === definitionText(definition))
        return { ...existing, enabled: definition.enabled };
      return {
        ...definition,
        createdAt: now,
        lastRunAt: null,
        totalRuns: existing?.totalRuns ?? 0,
        runNowAt: existing?.runNowAt ?? null,
        lastTaskId: existing?.lastTaskId ?? null,
        pendingTaskId: existing?.pendingTaskId ?? null,
        pendingSlot: existing?.pendingSlot ?? null,
        pendingClaim: existing?.pendingClaim ?? null,
      };
    });
  }

  syncCode(definitions: EntryDefinition[], now: number): Promise<void> {
    return syncCodeEntries(this, definitions, now);
  }

  async remove(name: string): Promise<boolean> {
    const key = this.entryKey(name);
    const existed = (await this.store.get(key)) !== undefined;
    await this.store.delete([key]);
    return existed;
  }

  setEnabled(name: string, enabled: boolean, now: number): Promise<boolean> {
    return this.update(name, (existing) => {
      if (!existing) return undefined;
      if (!enabled) return { ...existing, enabled: false };
      // Re-enabling restarts the schedule at `now`: slots that passed while disabled never run.
      return existing.enabled
        ? existing
        : { ...existing, enabled: true, createdAt: now, lastRunAt: null };
    });
  }

  requestRunNow(name: string, now: number): Promise<boolean> {
    return this.update(name, (existing) => (existing ? { ...existing, runNowAt: now } : undefined));
  }

  async lead(owner: string, ttlMs: number, now: number): Promise<number | null> {
    for (;;) {
      const raw = await this.store.get(this.leaderKey);
      const current = raw === undefined ? undefined : (JSON.parse(raw) as Lease);
      if (current && current.owner !== owner && current.expiresAt > now) return null;
      // A new leader gets a new token, so writes of a deposed leader that still thinks it leads fail.
      const token = current?.owner === owner ? current.token : await this.store.incr(this.tokenKey);
      const lease: Lease = { owner, token, expiresAt: now + ttlMs };
      if (
        await this.store.compareAndSet(
          [{ key: this.leaderKey, value: raw }],
          [{ key: this.leaderKey, value: JSON.stringify(lease) }],
        )
      ) {
        return token;
      }
    }
  }

  async resign(owner: string): Promise<void> {
    for (;;) {
      const raw = await this.store.get(this.leaderKey);
      const current = raw === undefined ? undefined : (JSON.parse(raw) as Lease);
      if (current?.owner !== owner) return;
      const ended = JSON.stringify({ ...current, expiresAt: 0 });
      if (
        await this.store.compareAndSet(
          [{ key: this.leaderKey, value: raw }],
          [{ key: this.leaderKey, value: ended }],
        )
      )
        return;
    }
  }

  async claimRun(
    name: string,
    slot: number | null,
    owner: string,
    token: number,
    taskId: string,
  ): Promise<boolean> {
    const key = this.entryKey(name);
    for (;;) {
      const [leaderRaw, entryRaw] = await this.store.mget([this.leaderKey, key]);
      const lease = leaderRaw === undefined ? undefined : (JSON.parse(leaderRaw) as Lease);
      if (lease?.owner !== owner || lease.token !== token || entryRaw === undefined) return false;
      const entry = parseEntry(entryRaw);
      let claimed: StoredRecord;
      if (slot === null) {
        if (entry.runNowAt === null) return false;
        claimed = {
          ...entry,
          runNowAt: null,
          totalRuns: entry.totalRuns + 1,
          lastTaskId: taskId,
          pendingTaskId: taskId,
          pendingSlot: null,
          pendingClaim: `${owner}|${token}`,
        };
      } else {
        if (!entry.enabled || (entry.lastRunAt !== null && entry.lastRunAt >= slot)) return false;
        claimed = {
          ...entry,
          lastRunAt: slot,
          totalRuns: entry.totalRuns + 1,
          lastTaskId: taskId,
          pendingTaskId: taskId,
          pendingSlot: slot,
          pendingClaim: `${owner}|${token}`,
        };
      }
      // The lease is part of the comparison: a takeover between the read and the write fails the claim.
      const expect = [
        { key: this.leaderKey, value: leaderRaw },
        { key, value: entryRaw },
      ];
      if (await this.store.compareAndSet(expect, [{ key, value: JSON.stringify(claimed) }]))
        return true;
    }
  }

  async confirmRun(name: string, taskId: string, owner: string, token: number): Promise<boolean> {
    const key = this.entryKey(name);
    for (;;) {
      const [leaderRaw, entryRaw] = await this.store.mget([this.leaderKey, key]);
      if (entryRaw === undefined) return false;
      const entry = parseEntry(entryRaw);
      if (entry.pendingTaskId !== taskId) return false;
      const claimant = entry.pendingClaim === `${owner}|${token}`;
      const lease = leaderRaw === undefined ? undefined : (JSON.parse(leaderRaw) as Lease);
      if (!claimant && (lease?.owner !== owner || lease.token !== token)) return false;
      const confirmed = { ...entry, pendingTaskId: null, pendingSlot: null, pendingClaim: null };
      // As in claimRun: when the lease is what allows it, a takeover between the read and
      // the write fails the confirm.
      const expect = claimant
        ? [{ key, value: entryRaw }]
        : [
            { key: this.leaderKey, value: leaderRaw },
            { key, value: entryRaw },
          ];
      if (await this.store.compareAndSet(expect, [{ key, value: JSON.stringify(confirmed) }]))
        return true;
    }
  }

  /** The store belongs to the backend, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Read, change, compare-and-set, retried on conflict; `change` returning undefined writes nothing. */
  private async update(
    name: string,
    change: (existing: StoredRecord | undefined) => StoredRecord | undefined,
  ): Promise<boolean> {
    const key = this.entryKey(name);
    for (;;) {
      const raw = await this.store.get(key);
      const next = change(raw === undefined ? undefined : parseEntry(raw));
      if (next === undefined) return false;
      if (
        await this.store.compareAndSet(
          [{ key, value: raw }],
          [{ key, value: JSON.stringify(next) }],
        )
      )
        return true;
    }
  }
}

/** What makes two definitions the same, in a fixed key order (name and enabled aside). */
function definitionText(d: EntryDefinition): string {
  const { task, schedule, args, kwargs, options, missedRunPolicy, source } = d;
  return JSON.stringify({ task, schedule, args, kwargs, options, missedRunPolicy, source });
}

/** An entry as stored; fields added to the contract later read as null in entries written before. */
function parseEntry(text: string): StoredRecord {
  const entry = JSON.parse(text) as StoredRecord;
  return { ...entry, lastTaskId: entry.lastTaskId ?? null };
}

/** The entry as the contract gives it: the store's own bookkeeping left out. */
function publicEntry(record: StoredRecord): StoredEntry {
  const { pendingClaim: _claim, ...entry } = record;
  return entry;
}
