/**
 * The rpc:// backend's memory: the latest meta of each task whose results reached this
 * process, for a while (the result expiry), bounded in size, and the listeners waiting on
 * each task id. In-process only: what rpc:// results are, by design (as in Celery).
 *
 * Must never grow without bound, and never call a listener of another task.
 */
import type { ResultMeta } from '../../protocol/types.js';

/** Results kept at most; the oldest go first. A caller waiting on more at once is unusual. */
const MAX_ENTRIES = 50_000;

type Listener = (meta: ResultMeta) => void;

export class ResultCache {
  private readonly entries = new Map<string, { meta: ResultMeta; expiresAt: number }>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly onListenerError: (error: Error) => void) {}

  /** Keeps `meta` as the latest for its task and tells the task's listeners. */
  put(meta: ResultMeta, ttlMs: number): void {
    this.entries.delete(meta.task_id); // re-insert at the newest end
    this.entries.set(meta.task_id, { meta, expiresAt: Date.now() + ttlMs });
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    for (const listener of [...(this.listeners.get(meta.task_id) ?? [])]) {
      try {
        listener(meta);
      } catch (error) {
        this.onListenerError(error as Error);
      }
    }
  }

  get(taskId: string): ResultMeta | undefined {
    const entry = this.entries.get(taskId);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(taskId);
      return undefined;
    }
    return entry.meta;
  }

  delete(taskId: string): void {
    this.entries.delete(taskId);
  }

  subscribe(taskId: string, listener: Listener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(taskId) === set) this.listeners.delete(taskId);
    };
  }
}
