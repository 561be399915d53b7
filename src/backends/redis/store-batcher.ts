/**
 * Gathers the SUCCESS metas stored in one turn of the event loop and writes them in one
 * `MULTI; SETEX; PUBLISH; ...; EXEC`, Celery's commands, in a single write: a worker
 * finishing a hundred tasks at once costs one round trip, not a hundred.
 * Must never resolve a store before Redis ran its EXEC.
 */
import type { Redis } from 'ioredis';

interface PendingStore {
  key: string;
  seconds: number;
  text: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class StoreBatcher {
  private pending: PendingStore[] = [];

  constructor(private readonly client: Redis) {}

  /** Stores `text` under `key` for `seconds` and publishes it on the channel named `key`. */
  store(key: string, seconds: number, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) process.nextTick(() => void this.flush());
      this.pending.push({ key, seconds, text, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const transaction = this.client.multi();
    for (const { key, seconds, text } of batch) transaction.setex(key, seconds, text).publish(key, text);
    try {
      const replies = await transaction.exec();
      if (replies === null) throw new Error('the transaction was discarded');
      for (const [error] of replies) if (error) throw error;
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    for (const entry of batch) entry.resolve();
  }
}
