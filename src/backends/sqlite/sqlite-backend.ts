/**
 * The embedded default result backend: task metas, revocations and chord joins in the
 * same kind of SQLite file as the broker (often the same file), safe for several
 * processes at once. Subscribers are served by one shared watcher per instance.
 * Must never interpret a state or a result: it stores and returns Celery metas as JSON.
 */
import type { ChordJoin, ChordPart, ResultBackend, StoreOptions, Unsubscribe } from '../backend.js';
import type { BackendFactoryOptions } from '../registry.js';
import { BrokerConnectionError } from '../../errors.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';
import { ChordStore } from './chord-store.js';
import { acquireChangeFeed, type ChangeFeed } from '../../connections/sqlite/change-feed.js';
import { openAsPromise, openWith, type DbHandle } from '../../connections/sqlite/database.js';
import { parseSqliteUrl, type SqliteLocation } from '../../connections/sqlite/sqlite-url.js';
import { ResultStore, type ResultChange, type RevokeChange } from './result-store.js';
import { ResultWatcher } from './result-watcher.js';
import { SqliteBeatStore } from './beat-store.js';
import { SqliteWorkerRegistry } from './worker-registry.js';
import { SqliteTaskListing } from './task-listing.js';
import type { TaskListing } from '../task-listing.js';
import {
  decodeHistory,
  encodeHistoryEvent,
  MAX_TASK_EVENTS,
  type TaskHistory,
} from '../task-history.js';
import { SqliteFlowStore } from './flow-store.js';
import { TurnBatcher } from '../../connections/sqlite/turn-batcher.js';
import { RevokedCache } from './revoked-cache.js';

/** Celery's default `result_expires`: one day. */
export const DEFAULT_RESULT_EXPIRES_MS = 86_400_000;
/** Expired rows are deleted at most this often, by whichever instance stores next. */
const CLEANUP_EVERY_MS = 60_000;

export interface SqliteBackendOptions extends BackendFactoryOptions {
  /**
   * Prefix of the table names (`<prefix>results`, `<prefix>revoked`, ...).
   * @default 'celeriac_'
   */
  keyPrefix?: string | undefined;
  /**
   * Default time to keep results (and revocations and chord parts), in ms; 0 keeps them forever.
   * @default 86400000 (one day, as Celery)
   */
  resultExpiresMs?: number | undefined;
  /** Told about errors the watcher recovers from by itself (a busy database, a throwing listener). */
  onError?: (error: Error) => void;
}

/** In-process instances on the same file and prefix, so local stores reach their subscribers at once. */
const localWatchers = new Map<string, Set<ResultWatcher>>();

export class SqliteBackend implements ResultBackend {
  readonly kind = 'sqlite';
  readonly location: SqliteLocation;
  readonly keyPrefix: string;
  readonly resultExpiresMs: number;
  private handle: DbHandle | undefined;
  private resultStore: ResultStore | undefined;
  private chordStore: ChordStore | undefined;
  private feed: ChangeFeed | undefined;
  private watcher: ResultWatcher | undefined;
  private closed = false;
  private lastCleanup = 0;
  private readonly localKey: string;
  private batcher: TurnBatcher<{ meta: ResultMeta; expiresAt: number }, number> | undefined;
  private readonly revokedCache = new RevokedCache();

  constructor(
    url: string,
    private readonly options: SqliteBackendOptions = {},
  ) {
    this.location = parseSqliteUrl(url);
    this.keyPrefix = options.keyPrefix ?? 'celeriac_';
    this.resultExpiresMs = options.resultExpiresMs ?? DEFAULT_RESULT_EXPIRES_MS;
    this.localKey = `${this.location.filename}\u0000${this.keyPrefix}`;
  }

  /** Stores of one event-loop turn share one transaction (workers finish many tasks per turn). */
  private storeBatch(
    store: ResultStore,
  ): TurnBatcher<{ meta: ResultMeta; expiresAt: number }, number> {
    this.batcher ??= new TurnBatcher((items) => store.storeMany(items));
    return this.batcher;
  }

  /** Beat's schedules, lease and run claims, in the same file under the same prefix. */
  beatStore(): SqliteBeatStore {
    return new SqliteBeatStore(this.location, this.keyPrefix);
  }

  /** Stored tasks by filter, in cursor pages, on this backend's connection. */
  taskListing(): TaskListing {
    return new SqliteTaskListing(async () => (await this.ready()).store, this.keyPrefix);
  }

  /** Each task's events in the task_events table, on this backend's connection. */
  taskHistory(): TaskHistory {
    return {
      append: async (entries, { expiresMs }) => {
        if (entries.length === 0) return;
        const { store } = await this.ready();
        const now = Date.now();
        const expiresAt = this.expiresAt(expiresMs, now);
        store.appendEvents(
          entries.map(({ taskId, event }) => [taskId, encodeHistoryEvent(event), expiresAt]),
        );
      },
      read: async (taskId) => {
        const { store } = await this.ready();
        return decodeHistory(store.readEvents(taskId, Date.now(), MAX_TASK_EVENTS).reverse());
      },
      forget: async (taskIds) => {
        if (taskIds.length === 0) return;
        const { store } = await this.ready();
        store.forgetEvents(taskIds);
      },
    };
  }

  /** Live workers' heartbeats, in the same file under the same prefix. */
  workerRegistry(): SqliteWorkerRegistry {
    return new SqliteWorkerRegistry(this.location, this.keyPrefix);
  }

  /** Flow control's buckets, leases and claims, in the same file under the same prefix. */
  flowStore(): SqliteFlowStore {
    return new SqliteFlowStore(this.location, this.keyPrefix);
  }

  connect(): Promise<void> {
    return openAsPromise(() => this.open());
  }

  /** Opens the connection and creates the tables once; later calls do nothing. */
  private open(): void {
    if (this.closed)
      throw new BrokerConnectionError('This SQLite result backend was closed; create a new one.');
    if (this.handle) return;
    const { handle, value } = openWith(
      this.location,
      (opened) => new ResultStore(opened, this.keyPrefix, this.options.resultExtended ?? false),
    );
    this.resultStore = value;
    this.chordStore = new ChordStore(handle, this.keyPrefix);
    this.handle = handle;
    this.feed = acquireChangeFeed(this.location);
    this.watcher = new ResultWatcher(
      () => this.openStore(),
      this.feed,
      (error) => this.options.onError?.(error),
    );
    let peers = localWatchers.get(this.localKey);
    if (!peers) localWatchers.set(this.localKey, (peers = new Set()));
    peers.add(this.watcher);
  }

  private openStore(): ResultStore {
    if (this.closed) throw new BrokerConnectionError('The SQLite result backend is closed.');
    if (!this.resultStore)
      throw new BrokerConnectionError(
        'The SQLite result backend is not connected: call connect() first.',
      );
    return this.resultStore;
  }

  private async ready(): Promise<{ store: ResultStore; watcher: ResultWatcher }> {
    await this.connect();
    const watcher = this.watcher;
    if (!watcher) throw new BrokerConnectionError('The SQLite result backend is not connected.');
    return { store: this.openStore(), watcher };
  }

  private expiresAt(ms: number | undefined, now: number): number {
    const keep = ms ?? this.resultExpiresMs;
    return keep > 0 && Number.isFinite(keep) ? now + keep : 0;
  }

  store(meta: ResultMeta, options: StoreOptions = {}): Promise<void> {
    // Connected (every store after the first): straight to the turn's batch, no connect() promise.
    const store = this.closed ? undefined : this.resultStore;
    if (!store) return this.ready().then(() => this.store(meta, options));
    const now = Date.now();
    return this.storeBatch(store)
      .add({ meta, expiresAt: this.expiresAt(options.expiresMs, now) })
      .then((seq) => {
        this.cleanupIfDue(store, now);
        const change: ResultChange = { taskId: meta.task_id, meta, seq };
        for (const watcher of localWatchers.get(this.localKey) ?? []) watcher.pushResult(change);
      });
  }

  /** Chord counters in the same file: each part is recorded and counted in one transaction. */
  chordJoin(): ChordJoin {
    return {
      setChordSize: async (groupId: string, size: number) => {
        (await this.chords()).setSize(groupId, size, this.expiresAt(undefined, Date.now()));
      },
      addChordPart: async (groupId: string, part: ChordPart) => {
        const now = Date.now();
        return (await this.chords()).addPart(groupId, part, this.expiresAt(undefined, now), now);
      },
      clearChord: async (groupId: string) => {
        (await this.chords()).clear(groupId);
      },
      claimOnce: async (key: string, token: string) => {
        const now = Date.now();
        return (await this.chords()).claimOnce(key, token, this.expiresAt(undefined, now), now);
      },
    };
  }

  async saveGroup(groupId: string, value: JsonValue, options: StoreOptions = {}): Promise<void> {
    const now = Date.now();
    (await this.chords()).saveGroup(groupId, value, this.expiresAt(options.expiresMs, now));
  }

  async getGroup(groupId: string): Promise<JsonValue | undefined> {
    return (await this.chords()).getGroup(groupId, Date.now());
  }

  private async chords(): Promise<ChordStore> {
    await this.ready();
    if (!this.chordStore) throw new BrokerConnectionError('The SQLite result backend is closed.');
    return this.chordStore;
  }

  async get(taskId: string): Promise<ResultMeta | undefined> {
    const { store } = await this.ready();
    return store.get(taskId, Date.now());
  }

  async subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    const { watcher } = await this.ready();
    return watcher.subscribe(taskId, listener);
  }

  async forget(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    const { store } = await this.ready();
    store.forget(taskIds);
  }

  async revoke(
    taskIds: string[],
    options: { terminate?: boolean; expiresMs?: number } = {},
  ): Promise<void> {
    if (taskIds.length === 0) return;
    const { store } = await this.ready();
    const changes: RevokeChange[] = store.revoke(
      taskIds,
      options.terminate ?? false,
      this.expiresAt(options.expiresMs, Date.now()),
    );
    this.revokedCache.invalidate();
    for (const watcher of localWatchers.get(this.localKey) ?? [])
      for (const change of changes) watcher.pushRevoke(change);
  }

  /**
   * Answered synchronously once connected, from the in-memory copy of the revocations
   * (revoked-cache.ts): one read of the revoked sequence per event-loop turn, not a SELECT per task.
   */
  isRevoked(taskId: string): boolean | Promise<boolean> {
    if (this.resultStore && !this.closed)
      return this.revokedCache.isRevoked(this.resultStore, taskId, Date.now());
    return this.ready().then(({ store }) => this.revokedCache.isRevoked(store, taskId, Date.now()));
  }

  async onRevoke(listener: (taskId: string, terminate: boolean) => void): Promise<Unsubscribe> {
    const { watcher } = await this.ready();
    return watcher.onRevoke(listener);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.batcher?.flush(); // stores already asked for are committed, not dropped
    if (this.watcher) {
      this.watcher.close();
      localWatchers.get(this.localKey)?.delete(this.watcher);
      if (localWatchers.get(this.localKey)?.size === 0) localWatchers.delete(this.localKey);
    }
    this.feed?.release();
    this.handle?.release();
    this.handle = undefined;
    this.resultStore = undefined;
    this.chordStore = undefined;
    return Promise.resolve();
  }

  /** Lazy expiry: reads already hide expired rows; this reclaims their space now and then. */
  private cleanupIfDue(store: ResultStore, now: number): void {
    if (now - this.lastCleanup < CLEANUP_EVERY_MS) return;
    this.lastCleanup = now;
    try {
      store.deleteExpired(now);
      this.chordStore?.deleteExpired(now);
    } catch (error) {
      this.options.onError?.(error as Error); // busy: the next store retries
    }
  }
}

/** The factory the backend registry calls for `sqlite://` URLs. */
export function createSqliteBackend(
  url: string,
  options: BackendFactoryOptions = {},
): SqliteBackend {
  return new SqliteBackend(url, options);
}
