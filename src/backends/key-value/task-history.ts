/**
 * Task history on any key-value store (task-history.ts): one key per event,
 * `celeriac.task-events:<id length>:<id>:<at>-<n>`, written with the results' time to
 * live, many in one compare-and-set with nothing expected (one round trip per batch); a
 * read lists the task's keys by prefix and reads them in one `mget`. The length in the
 * key keeps one id's prefix from matching another's. Not capped on write (the store has
 * no list): a read returns the newest MAX_TASK_EVENTS.
 */
import type { KeyValueStore, KeyWrite } from './key-value-store.js';
import {
  decodeHistory,
  encodeHistoryEvent,
  type TaskHistory,
  type TaskHistoryEntry,
  type TaskHistoryEvent,
} from '../task-history.js';

export class KeyValueTaskHistory implements TaskHistory {
  /** Orders this process's events of one millisecond; a random tail keeps processes apart. */
  private counter = 0;
  private readonly tail = Math.random().toString(36).slice(2, 8);

  constructor(
    private readonly kv: KeyValueStore,
    private readonly prefix: string,
  ) {}

  private base(taskId: string): string {
    return `${this.prefix}${taskId.length}:${taskId}:`;
  }

  async append(
    entries: readonly TaskHistoryEntry[],
    options: { expiresMs: number },
  ): Promise<void> {
    if (entries.length === 0) return;
    const writes: KeyWrite[] = entries.map(({ taskId, event }) => {
      this.counter = (this.counter + 1) % 1e9;
      const key = `${this.base(taskId)}${String(event.at).padStart(15, '0')}-${String(this.counter).padStart(9, '0')}-${this.tail}`;
      const write: KeyWrite = { key, value: encodeHistoryEvent(event) };
      if (options.expiresMs > 0) write.ttlMs = options.expiresMs;
      return write;
    });
    await this.kv.compareAndSet([], writes);
  }

  async read(taskId: string): Promise<TaskHistoryEvent[]> {
    const keys = (await this.kv.keys(this.base(taskId))).sort();
    if (keys.length === 0) return [];
    const texts = await this.kv.mget(keys);
    return decodeHistory(texts.filter((text): text is string => text !== undefined));
  }

  async forget(taskIds: readonly string[]): Promise<void> {
    for (const taskId of taskIds) {
      const keys = await this.kv.keys(this.base(taskId));
      if (keys.length > 0) await this.kv.delete(keys);
    }
  }
}
