/**
 * Gathers the metas stored in one turn of the event loop and writes them with one script
 * call (scripts/store.ts): per meta Celery's SETEX and PUBLISH on the channel named as its
 * key, keeping a SUCCESS already stored. A worker finishing a hundred tasks at once costs
 * one command and one round trip, not two hundred commands. When a consumer of this
 * process reads from the same server, the metas ride along with its next call instead
 * (connections/redis/result-carrier.ts): the same Lua, one round trip fewer per batch.
 * Must never resolve a store before Redis ran it, nor reorder two stores of one task
 * (all go one way while a consumer carries; a store can only overtake another at the
 * instant that consumer starts or stops).
 */
import type { Redis } from 'ioredis';
import { runScript } from '../../connections/redis/script-runner.js';
import { storeManyScript } from './scripts/store.js';
import type { ResultCarriers } from '../../connections/redis/result-carrier.js';

interface PendingStore {
  key: string;
  expiresMs: number;
  text: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Metas per script call: keeps each call's arguments well under Redis's limits. */
const MAX_BATCH = 500;

export class StoreBatcher {
  private pending: PendingStore[] = [];

  /** The consumers of the app's broker, when it reads from this backend's server. */
  carriers: ResultCarriers | undefined;

  constructor(private readonly client: Redis) {}

  /** Stores `text` under `key` for `expiresMs` and publishes it on the channel named `key`. */
  store(key: string, expiresMs: number, text: string): Promise<void> {
    const carrier = this.carriers?.current();
    if (!carrier) return this.storeOwn(key, expiresMs, text);
    return new Promise((resolve, reject) => {
      carrier.carry({
        key,
        expiresMs,
        text,
        done: resolve,
        fail: reject,
        giveBack: () => void this.storeOwn(key, expiresMs, text).then(resolve, reject),
      });
    });
  }

  private storeOwn(key: string, expiresMs: number, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // After the current microtasks, so every store asked for in this turn joins in.
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ key, expiresMs, text, resolve, reject });
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    // Batches go out in order on one connection, so two stores of a task keep their order.
    for (let i = 0; i < pending.length; i += MAX_BATCH)
      void this.send(pending.slice(i, i + MAX_BATCH));
  }

  private async send(batch: PendingStore[]): Promise<void> {
    try {
      await runScript(
        this.client,
        storeManyScript,
        batch.map((entry) => entry.key),
        batch.flatMap((entry) => [entry.expiresMs, entry.text]),
      );
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    for (const entry of batch) entry.resolve();
  }
}
