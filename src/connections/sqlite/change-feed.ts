/**
 * Tells interested parties, within about a millisecond and without busy CPU, that a
 * SQLite file changed: in-process writers call `notifyLocal()`; writes by other
 * processes are seen through `fs.watch` on the `-wal` file (inotify) and confirmed by
 * `PRAGMA data_version`, with a slow poll of the same pragma as a fallback when watching
 * fails (network file systems, a WAL file not yet created).
 * One feed per file per process, shared by every broker and backend instance on it, and
 * only running (watching, polling, keeping the process alive) while someone listens.
 * Must never read or write application rows: listeners decide what a change means.
 */
import { watch, type FSWatcher } from 'node:fs';
import { openDatabase, type DbHandle } from './database.js';
import type { SqliteLocation } from './sqlite-url.js';

/** Fallback poll of `PRAGMA data_version`; fs.watch normally wakes listeners far sooner. */
const POLL_MS = 100;

export type ChangeListener = () => void;

export interface ChangeFeed {
  /** Calls `listener` (synchronously, so keep it cheap) after each change; returns its removal. */
  listen(listener: ChangeListener): () => void;
  /** Announces a committed write made in this process. */
  notifyLocal(): void;
  /** Drops this user's reference; the feed stops when its last user releases it. */
  release(): void;
}

class FileChangeFeed {
  readonly listeners = new Set<ChangeListener>();
  users = 0;
  private handle: DbHandle | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = -1;
  private checkScheduled = false;

  constructor(private readonly location: SqliteLocation) {}

  emit(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Starts or stops watching so an idle feed costs nothing. */
  update(): void {
    const wanted = this.listeners.size > 0 && !this.location.memory;
    if (wanted && !this.timer) this.start();
    if (!wanted && this.timer) this.stop();
  }

  private start(): void {
    this.handle = openDatabase(this.location);
    this.lastVersion = this.readVersion();
    this.timer = setInterval(() => this.check(), POLL_MS);
    this.watchWal();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.handle?.release();
    this.handle = undefined;
  }

  private watchWal(): void {
    if (this.watcher || !this.timer) return;
    try {
      this.watcher = watch(`${this.location.filename}-wal`, { persistent: false }, (event) => {
        if (event === 'rename') this.unwatch(); // the WAL was replaced: watch the new one on the next poll
        this.scheduleCheck();
      });
      this.watcher.on('error', () => this.unwatch());
    } catch {
      // No WAL file yet, or no inotify: the poll covers it and retries the watch.
    }
  }

  private unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Coalesces a burst of inotify events into one pragma read. */
  private scheduleCheck(): void {
    if (this.checkScheduled) return;
    this.checkScheduled = true;
    setImmediate(() => {
      this.checkScheduled = false;
      this.check();
    });
  }

  private check(): void {
    if (!this.handle) return;
    if (!this.watcher) this.watchWal();
    let version: number;
    try {
      version = this.readVersion();
    } catch {
      return; // busy or closing: the next poll tries again
    }
    // data_version moves only when another connection commits, so our own reads never wake us.
    if (version === this.lastVersion) return;
    this.lastVersion = version;
    this.emit();
  }

  private readVersion(): number {
    return Number(this.handle?.db.pragma('data_version', { simple: true }) ?? -1);
  }
}

const feeds = new Map<string, FileChangeFeed>();

/** The process-wide change feed of a database file (or of the shared in-memory database). */
export function acquireChangeFeed(location: SqliteLocation): ChangeFeed {
  let feed = feeds.get(location.filename);
  if (!feed) {
    feed = new FileChangeFeed(location);
    feeds.set(location.filename, feed);
  }
  const shared = feed;
  shared.users += 1;
  const mine = new Set<ChangeListener>();
  let released = false;
  return {
    listen(listener) {
      // Wrap so the same function can listen twice and be removed once per registration.
      const entry: ChangeListener = () => listener();
      mine.add(entry);
      shared.listeners.add(entry);
      shared.update();
      return () => {
        mine.delete(entry);
        shared.listeners.delete(entry);
        shared.update();
      };
    },
    notifyLocal() {
      shared.emit();
    },
    release() {
      if (released) return;
      released = true;
      for (const entry of mine) shared.listeners.delete(entry);
      shared.users -= 1;
      shared.update();
      if (shared.users === 0 && feeds.get(location.filename) === shared)
        feeds.delete(location.filename);
    },
  };
}
