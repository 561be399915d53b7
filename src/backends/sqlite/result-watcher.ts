/**
 * Serves `subscribe` and `onRevoke` for one backend instance with one shared watcher:
 * on each change of the file (see change-feed.ts) it runs one query for all subscribed
 * task ids (`seq > watermark`), however many waiters there are. Stores made in this
 * process reach subscribers directly (`pushResult`), so they see every state in order;
 * from other processes, a burst of stores for one task may arrive as its latest state
 * only (the table keeps the latest meta), and a final state is never missed.
 * Must never deliver the same change twice to a listener, nor a change older than its
 * subscription.
 */
import type { Unsubscribe } from '../backend.js';
import type { ChangeFeed } from '../../connections/sqlite/change-feed.js';
import type { ResultMeta } from '../../protocol/types.js';
import type { ResultChange, ResultStore, RevokeChange } from './result-store.js';

type ResultListener = (meta: ResultMeta) => void;
type RevokeListener = (taskId: string, terminate: boolean) => void;

/** Past this many subscribed ids, read every change in the window and filter here. */
const ID_LIST_LIMIT = 200;

interface Subscription {
  readonly listeners: Set<ResultListener>;
  /** The newest change delivered (or existing at subscription): older ones are skipped. */
  lastSeq: number;
}

export class ResultWatcher {
  private readonly subs = new Map<string, Subscription>();
  private readonly revokeListeners = new Set<RevokeListener>();
  /** Revocations pushed locally ahead of the watermark, by task id: seq. */
  private readonly revokesPushed = new Map<string, number>();
  private resultsWatermark = 0;
  private revokedWatermark = 0;
  private unlisten: (() => void) | undefined;
  private scheduled = false;

  constructor(
    private readonly store: () => ResultStore,
    private readonly feed: ChangeFeed,
    private readonly onError: (error: Error) => void,
  ) {}

  subscribe(taskId: string, listener: ResultListener): Unsubscribe {
    const current = this.store().sequence('results');
    if (this.subs.size === 0) this.resultsWatermark = current;
    let sub = this.subs.get(taskId);
    if (!sub) {
      sub = { listeners: new Set(), lastSeq: current };
      this.subs.set(taskId, sub);
    }
    const entry: ResultListener = (meta) => listener(meta);
    sub.listeners.add(entry);
    this.updateListening();
    return () => {
      const found = this.subs.get(taskId);
      found?.listeners.delete(entry);
      if (found && found.listeners.size === 0) this.subs.delete(taskId);
      this.updateListening();
      return Promise.resolve();
    };
  }

  onRevoke(listener: RevokeListener): Unsubscribe {
    if (this.revokeListeners.size === 0) this.revokedWatermark = this.store().sequence('revoked');
    const entry: RevokeListener = (taskId, terminate) => listener(taskId, terminate);
    this.revokeListeners.add(entry);
    this.updateListening();
    return () => {
      this.revokeListeners.delete(entry);
      this.updateListening();
      return Promise.resolve();
    };
  }

  /** A store committed in this process, for this file and prefix. */
  pushResult(change: ResultChange): void {
    const sub = this.subs.get(change.taskId);
    if (!sub || change.seq <= sub.lastSeq) return;
    sub.lastSeq = change.seq;
    for (const listener of [...sub.listeners]) this.call(() => listener(change.meta));
  }

  /** A revocation committed in this process, for this file and prefix. */
  pushRevoke(change: RevokeChange): void {
    if (this.revokeListeners.size === 0 || change.seq <= this.revokedWatermark) return;
    if ((this.revokesPushed.get(change.taskId) ?? 0) >= change.seq) return;
    this.revokesPushed.set(change.taskId, change.seq);
    for (const listener of [...this.revokeListeners])
      this.call(() => listener(change.taskId, change.terminate));
  }

  close(): void {
    this.subs.clear();
    this.revokeListeners.clear();
    this.updateListening();
  }

  private updateListening(): void {
    const wanted = this.subs.size > 0 || this.revokeListeners.size > 0;
    if (wanted && !this.unlisten) this.unlisten = this.feed.listen(() => this.schedule());
    if (!wanted && this.unlisten) {
      this.unlisten();
      this.unlisten = undefined;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.poll();
      } catch (error) {
        this.onError(error as Error); // busy or closing: the next change or poll retries
      }
    });
  }

  private poll(): void {
    const store = this.store();
    if (this.subs.size > 0) {
      const upto = store.sequence('results');
      if (upto > this.resultsWatermark) {
        const ids = this.subs.size <= ID_LIST_LIMIT ? [...this.subs.keys()] : undefined;
        const changes = store.changedResults(ids, this.resultsWatermark, upto);
        this.resultsWatermark = upto;
        for (const change of changes) this.pushResult(change);
      }
    }
    if (this.revokeListeners.size > 0) {
      const upto = store.sequence('revoked');
      if (upto > this.revokedWatermark) {
        const changes = store.revokedSince(this.revokedWatermark, upto);
        for (const change of changes) this.pushRevoke(change);
        this.revokedWatermark = upto;
        // Below the watermark nothing is read again, so those local marks are done with.
        for (const [taskId, seq] of this.revokesPushed)
          if (seq <= upto) this.revokesPushed.delete(taskId);
      }
    }
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.onError(error as Error);
    }
  }
}
