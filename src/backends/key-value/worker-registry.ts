/**
 * The worker registry on a key-value store: one key per worker holding its info, with the
 * heartbeat's time to live, so a worker that stops heart-beating drops out on its own.
 * Records presence only.
 */
import type { WorkerInfo, WorkerRegistry } from '../worker-registry.js';
import type { KeyValueStore } from './key-value-store.js';

export class KeyValueWorkerRegistry implements WorkerRegistry {
  constructor(
    private readonly store: KeyValueStore,
    private readonly keyPrefix: string,
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

  /** The store belongs to the backend, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
