/**
 * The contract of a schedule store: periodic entries that can be edited while beat runs,
 * a leader lease with a fencing token, and an atomic claim of each run so a tick is sent
 * once across every beat replica. Implemented beside each result backend (SQLite, Redis);
 * a store never decides when something is due (schedules/due.ts does) and never sends.
 */
import type { JsonObject, JsonValue } from '../protocol/types.js';
import type { MissedRunPolicy, ScheduleJson } from './stored-schedule.js';

/** Per-run options an entry sends its task with. */
export interface EntryOptions {
  queue?: string;
  priority?: number;
  /** Seconds after sending when a run expires unrun, so a backlog cannot pile up. */
  expires?: number;
  headers?: Record<string, string | number | boolean | null>;
  /**
   * An idempotency key for every run: while a run sent under it is pending, running or
   * finished within `idempotencyWindow` seconds, a due run sends nothing (flow control).
   */
  idempotencyKey?: string;
  idempotencyWindow?: number;
}

/** What defines an entry; editing any of these restarts its schedule from the edit. */
export interface EntryDefinition {
  name: string;
  task: string;
  schedule: ScheduleJson;
  args: JsonValue[];
  kwargs: JsonObject;
  options: EntryOptions;
  missedRunPolicy: MissedRunPolicy;
  enabled: boolean;
  /** `code`: declared with app.periodic (synced at beat start); `store`: added at run time. */
  source: 'code' | 'store';
}

export interface StoredEntry extends EntryDefinition {
  /** When the entry was created or its definition last changed (ms); earlier slots never run. */
  createdAt: number;
  /** The slot (scheduledFor, ms) of the last claimed run, or null. */
  lastRunAt: number | null;
  totalRuns: number;
  /** Set by `run-now`: the time of the request, until the leader sends it. */
  runNowAt: number | null;
  /** The task id of the last run claimed, scheduled or run-now (what `beat list` shows), or null. */
  lastTaskId: string | null;
  /** A claimed run not yet confirmed as sent: its task id and slot (recovered by a new leader). */
  pendingTaskId: string | null;
  pendingSlot: number | null;
}

export interface BeatStore {
  /** Creates tables or keys; safe to call twice. */
  open(): Promise<void>;
  list(): Promise<StoredEntry[]>;
  get(name: string): Promise<StoredEntry | undefined>;
  /**
   * Creates or replaces an entry's definition. An unchanged definition keeps its run
   * history; a changed one restarts its schedule at `now`.
   */
  upsert(definition: EntryDefinition, now: number): Promise<void>;
  /** Upserts the code entries and removes code entries no longer declared. */
  syncCode(definitions: EntryDefinition[], now: number): Promise<void>;
  remove(name: string): Promise<boolean>;
  setEnabled(name: string, enabled: boolean, now: number): Promise<boolean>;
  requestRunNow(name: string, now: number): Promise<boolean>;
  /**
   * Takes or renews leadership for `ttlMs`. Returns the fencing token (it grows each time
   * leadership changes hands) when `owner` leads, else null.
   */
  lead(owner: string, ttlMs: number, now: number): Promise<number | null>;
  /** Gives leadership up so another replica takes over at once. */
  resign(owner: string): Promise<void>;
  /**
   * Atomically records that `owner` (holding `token`) sends `name`'s run for `slot` as
   * `taskId`: true only if the token is still current and the slot is after the last run.
   * `slot` null claims a run-now request instead.
   */
  claimRun(
    name: string,
    slot: number | null,
    owner: string,
    token: number,
    taskId: string,
  ): Promise<boolean>;
  /**
   * Marks `name`'s pending run `taskId` as sent, checked against the fencing token in one
   * atomic step: true only if the run is still the pending one and `owner` holding `token`
   * either claimed it (a leader deposed while sending may still confirm what it sent, or
   * the new leader would send it again) or leads now (the leader recovering a run whose
   * claimant died). Any other confirm is refused (a deposed beat's late recovery of a run
   * another leader claimed, a stale or foreign token), so the run stays pending for the
   * current leader to recover.
   */
  confirmRun(name: string, taskId: string, owner: string, token: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * `syncCode` for a store with no transaction to do it in: upserts each code entry, then
 * removes the code entries no longer declared (stored ones stay). Each step is one of the
 * store's own atomic operations, so a beat replica running it at the same time is harmless.
 */
export async function syncCodeEntries(
  store: Pick<BeatStore, 'upsert' | 'list' | 'remove'>,
  definitions: EntryDefinition[],
  now: number,
): Promise<void> {
  for (const definition of definitions) await store.upsert(definition, now);
  const declared = new Set(definitions.map((d) => d.name));
  for (const entry of await store.list()) {
    if (entry.source === 'code' && !declared.has(entry.name)) await store.remove(entry.name);
  }
}
