/**
 * The beat runtime: on each tick, the replica holding the leader lease sends every due run
 * once (claimed atomically in the store under its fencing token), then sleeps until the
 * next slot. Replicas that do not lead only try to take the lease. It installs no signal
 * handlers and never exits the process; the clock is injectable for tests.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Celeriac } from '../app/celeriac.js';
import { createLineLogger, type Logger } from '../logger.js';
import type { BeatStore, StoredEntry } from '../backends/beat-store.js';
import { dueRuns, scheduleFromJson, type Schedule } from './schedules/index.js';
import { CeleriacError } from '../errors.js';

export interface BeatOptions {
  /** Where schedules, the lease and run claims live. @default the result backend's store */
  store?: BeatStore;
  /**
   * How long leadership lasts without renewal: the longest a dead leader's ticks wait
   * for a new one. @default 10 s
   */
  leaseSeconds?: number;
  /** Longest sleep between ticks, so edits from the CLI are seen quickly. @default 1 s */
  maxIntervalSeconds?: number;
  /** This replica's name. @default `beat-<pid>@<host>-<random>` */
  id?: string;
  logger?: Logger;
  /** Milliseconds since the epoch; inject for tests. @default Date.now */
  clock?: () => number;
}

export class NoBeatStoreError extends CeleriacError {
  constructor(kind: string) {
    super(
      `The "${kind}" result backend keeps no schedules: use a sqlite:// or redis:// backend for beat.`,
    );
  }
}

export class Beat {
  readonly id: string;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly leaseMs: number;
  private readonly maxIntervalMs: number;
  private store: BeatStore | undefined;
  private token: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<unknown> = Promise.resolve();
  private readonly schedules = new Map<string, { json: string; schedule: Schedule }>();
  /** Unconfirmed claims seen while leading: task id -> when this replica first saw it (its clock). */
  private readonly pendingSeen = new Map<string, number>();

  constructor(
    readonly app: Celeriac,
    private readonly options: BeatOptions = {},
  ) {
    this.id = options.id ?? `beat-${process.pid}@${os.hostname()}-${randomUUID().slice(0, 8)}`;
    this.logger = options.logger ?? createLineLogger({ name: 'beat' });
    this.clock = options.clock ?? Date.now;
    this.leaseMs = (options.leaseSeconds ?? 10) * 1000;
    this.maxIntervalMs = (options.maxIntervalSeconds ?? 1) * 1000;
  }

  /** True while this replica holds the leader lease. */
  get isLeader(): boolean {
    return this.token !== null;
  }

  /** Opens the store and syncs the entries declared in code. */
  async open(): Promise<BeatStore> {
    if (this.store) return this.store;
    let store = this.options.store;
    if (!store) {
      const backend = await this.app.resultBackend();
      if (!backend.beatStore) throw new NoBeatStoreError(backend.kind);
      store = backend.beatStore();
    }
    await store.open();
    await store.syncCode(this.app.periodicDefinitions(), this.clock());
    this.store = store;
    return store;
  }

  /** Starts ticking in the background. */
  async start(): Promise<void> {
    await this.open();
    this.running = true;
    const entries = await this.store?.list();
    this.logger.info(`beat ${this.id} started with ${entries?.length ?? 0} entries`);
    this.schedule(0);
  }

  /** Stops ticking and hands leadership over at once. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.ticking.catch(() => undefined);
    if (this.store && this.token !== null) await this.store.resign(this.id);
    this.token = null;
    await this.store?.close();
    this.store = undefined;
  }

  /**
   * One tick: renew or take the lease; if leading, send what is due. Returns the ms to
   * wait before the next tick. Exposed so tests can drive beat with their own clock.
   */
  async tick(): Promise<number> {
    const store = await this.open();
    const now = this.clock();
    const token = await store.lead(this.id, this.leaseMs, now);
    if (token === null) {
      if (this.token !== null) this.logger.warn(`beat ${this.id} lost leadership`);
      this.token = null;
      return Math.min(this.maxIntervalMs, this.leaseMs / 3);
    }
    if (this.token !== token) {
      this.logger.info(`beat ${this.id} leads (token ${token})`);
      this.token = token;
      this.pendingSeen.clear();
    }
    const entries = await store.list();
    await this.recoverPending(store, token, entries);
    let wait = Math.min(this.maxIntervalMs, this.leaseMs / 3);
    for (const entry of entries) {
      const next = await this.sendDue(store, entry, token);
      if (next !== null) wait = Math.min(wait, Math.max(0, next - this.clock()));
    }
    return wait;
  }

  /** Sends an entry's due runs (one per slot, in order) and returns when it is next due. */
  private async sendDue(
    store: BeatStore,
    entry: StoredEntry,
    token: number,
  ): Promise<number | null> {
    if (entry.runNowAt !== null) await this.send(store, entry, null, token);
    if (!entry.enabled) return null;
    const schedule = this.scheduleOf(entry);
    let lastRunAt = entry.lastRunAt;
    for (;;) {
      const due = dueRuns({
        schedule,
        lastRunAt: lastRunAt === null ? null : new Date(lastRunAt),
        now: new Date(this.clock()),
        missedRunPolicy: entry.missedRunPolicy,
        createdAt: new Date(entry.createdAt),
      });
      if (!due.runNow || !due.scheduledFor) return due.nextRunAt?.getTime() ?? null;
      const slot = due.scheduledFor.getTime();
      if (!(await this.send(store, entry, slot, token, due.nextRunAt))) return null;
      lastRunAt = slot;
    }
  }

  /** Claims and sends one run; false when the claim was refused (not leader any more, or done). */
  private async send(
    store: BeatStore,
    entry: StoredEntry,
    slot: number | null,
    token: number,
    nextRunAt?: Date | null,
  ): Promise<boolean> {
    const taskId = randomUUID();
    if (!(await store.claimRun(entry.name, slot, this.id, token, taskId))) return false;
    await this.publish(entry, taskId, slot);
    await this.confirm(store, entry, taskId, token);
    const what = slot === null ? 'run-now' : `slot ${new Date(slot).toISOString()}`;
    const next =
      nextRunAt === undefined ? '' : `; next run ${nextRunAt ? nextRunAt.toISOString() : 'none'}`;
    this.logger.info(
      `Sent ${entry.name} (${entry.task}) [${taskId}] for ${what}; schedule ${this.scheduleOf(entry).describe()}${next}`,
    );
    return true;
  }

  /**
   * Marks a sent run as sent, under this leadership's token: refused when another replica
   * leads now, which then sees the run pending and recovers it (unless its task left a
   * state behind), rather than this beat marking done a run it no longer owns.
   */
  private async confirm(
    store: BeatStore,
    entry: StoredEntry,
    taskId: string,
    token: number,
  ): Promise<void> {
    if (!(await store.confirmRun(entry.name, taskId, this.id, token)))
      this.logger.warn(
        `beat ${this.id} could not confirm ${entry.name} [${taskId}] as sent: it no longer leads (token ${token}) or the run is no longer pending; the leader recovers it`,
      );
  }

  private publish(entry: StoredEntry, taskId: string, slot: number | null): Promise<unknown> {
    const { queue, priority, expires, headers, idempotencyKey, idempotencyWindow } = entry.options;
    // The slot travels with the run so workers and audits can tell which tick a task is.
    const slotHeader: Record<string, string> =
      slot === null ? {} : { periodic_task_slot: new Date(slot).toISOString() };
    return this.app.sendTask(entry.task, entry.args, {
      taskId,
      kwargs: entry.kwargs,
      queue,
      priority,
      expires,
      idempotencyKey,
      idempotencyWindow,
      headers: { ...headers, ...slotHeader, periodic_task_name: entry.name },
    });
  }

  /**
   * A previous leader may have died between claiming a run and sending it: send those runs
   * again under the same task id, unless the task already left a state behind. A claim is
   * recovered only once it has stayed pending for a whole lease since this leader first saw
   * it: a deposed leader that claimed just before losing its lease may still be sending,
   * and recovering at once would send the run twice.
   */
  private async recoverPending(
    store: BeatStore,
    token: number,
    entries: StoredEntry[],
  ): Promise<void> {
    const now = this.clock();
    const stillPending = new Set<string>();
    for (const entry of entries) {
      const taskId = entry.pendingTaskId;
      if (!taskId) continue;
      stillPending.add(taskId);
      const firstSeen = this.pendingSeen.get(taskId);
      if (firstSeen === undefined) this.pendingSeen.set(taskId, now);
      if (firstSeen === undefined || now - firstSeen < this.leaseMs) continue;
      const backend = await this.app.resultBackend();
      if (!(await backend.get(taskId))) {
        this.logger.warn(`beat recovering unconfirmed run of ${entry.name} [${taskId}]`);
        await this.publish(entry, taskId, entry.pendingSlot);
      }
      await this.confirm(store, entry, taskId, token);
      this.pendingSeen.delete(taskId);
    }
    for (const taskId of this.pendingSeen.keys())
      if (!stillPending.has(taskId)) this.pendingSeen.delete(taskId);
  }

  private scheduleOf(entry: StoredEntry): Schedule {
    const json = JSON.stringify(entry.schedule);
    const cached = this.schedules.get(entry.name);
    if (cached?.json === json) return cached.schedule;
    const schedule = scheduleFromJson(entry.schedule);
    this.schedules.set(entry.name, { json, schedule });
    return schedule;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      const work = this.tick().then(
        (wait) => this.schedule(wait),
        (error: Error) => {
          this.logger.error(`beat tick failed: ${error.message}`);
          this.schedule(1000);
        },
      );
      this.ticking = work;
    }, delayMs);
  }
}
