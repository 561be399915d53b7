/**
 * The worker registry on a key-value store: one key per worker holding its info, with the
 * heartbeat's time to live, so a worker that stops heart-beating drops out on its own.
 * Paused queues are one key (a JSON array, no time to live), changed by compare-and-set.
 */
import type { WorkerInfo, WorkerRegistry } from '../worker-registry.js';
import type { KeyValueStore } from './key-value-store.js';

export class KeyValueWorkerRegistry implements WorkerRegistry {
  /** `pausedKey` must not start with `keyPrefix` (every key under it is a worker). */
  constructor(
    private readonly store: KeyValueStore,
    private readonly keyPrefix: string,
    private readonly pausedKey = `paused-queues:${keyPrefix}`,
  ) {}

  heartbeat(info: WorkerInfo, ttlMs: number): Promise<void> {
    return this.store.set(`${this.keyPrefix}${info.hostname}`, JSON.stringify(info), { ttlMs });
  }

  leave(hostname: string): Promise<void> {
    return this.store.delete([`${this.keyPrefix}${hostname}`]);
  }

  async online(_now: number): Promise<WorkerInfo[]> {
    const keys = await this.store.keys(this.keyPrefix);
    const values = await this.store.mget(keys);
    const workers: WorkerInfo[] = [];
    for (const value of values)
      if (value !== undefined) workers.push(JSON.parse(value) as WorkerInfo);
    return workers.sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  async pausedQueues(): Promise<string[]> {
    const text = await this.store.get(this.pausedKey);
    return text === undefined ? [] : (JSON.parse(text) as string[]);
  }

  async setQueuePaused(queue: string, paused: boolean): Promise<void> {
    // Compare-and-set, so two dashboards pausing different queues at once both count.
    for (;;) {
      const text = await this.store.get(this.pausedKey);
      const queues = new Set(text === undefined ? [] : (JSON.parse(text) as string[]));
      if (queues.has(queue) === paused) return;
      if (paused) queues.add(queue);
      else queues.delete(queue);
      const next = queues.size > 0 ? JSON.stringify([...queues].sort()) : undefined;
      const written = await this.store.compareAndSet(
        [{ key: this.pausedKey, value: text }],
        [{ key: this.pausedKey, value: next }],
      );
      if (written) return;
    }
  }

  /** The store belongs to the backend, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
