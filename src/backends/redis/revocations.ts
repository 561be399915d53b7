/**
 * Revocations for the Redis backend: a zset of our own (`celeriac.revoked`, task id ->
 * unix ms until which the revocation holds) plus a channel announcing each revoke. While
 * someone listens, the shared RevocationMirror keeps the whole set in memory (loaded after
 * the subscription is confirmed, reloaded after every reconnect), so a worker asking before
 * each task costs no round trip. Must never answer from memory while the mirror may have
 * missed a notice: then it asks Redis.
 */
import type { Redis } from 'ioredis';
import type { Unsubscribe } from '../backend.js';
import {
  encodeRevokeNotice,
  RevocationMirror,
  type RevokeListener,
} from '../key-value/revocation-mirror.js';
import type { ResultKeyspace } from './keys.js';
import type { SharedSubscriber } from './shared-subscriber.js';

export class Revocations {
  private readonly mirror: RevocationMirror;

  constructor(
    private readonly client: Redis,
    subscriber: SharedSubscriber,
    private readonly keys: ResultKeyspace,
  ) {
    this.mirror = new RevocationMirror({
      subscribe: (onText) => subscriber.subscribe(keys.revokeChannel, onText),
      loadAll: async () => {
        const flat = await client.zrangebyscore(keys.revoked, Date.now(), '+inf', 'WITHSCORES');
        const all = new Map<string, number>();
        for (let i = 0; i < flat.length; i += 2) all.set(flat[i] as string, Number(flat[i + 1]));
        return all;
      },
    });
  }

  async revoke(taskIds: string[], terminate: boolean, forMs: number): Promise<void> {
    const now = Date.now();
    const until = now + forMs;
    await this.client
      .multi()
      .zadd(this.keys.revoked, ...taskIds.flatMap((id) => [until, id]))
      .zremrangebyscore(this.keys.revoked, '-inf', now)
      .publish(this.keys.revokeChannel, encodeRevokeNotice(taskIds, terminate, until))
      .exec();
    this.mirror.noteLocal(taskIds, until);
  }

  /** Asks Redis whether one id is revoked (when no complete mirror is kept). */
  async askRedis(taskId: string): Promise<boolean> {
    const score = await this.client.zscore(this.keys.revoked, taskId);
    return score !== null && Number(score) > Date.now();
  }

  /** From the mirror while it is complete; undefined when Redis must be asked. */
  isRevoked(taskId: string): boolean | undefined {
    return this.mirror.isRevoked(taskId);
  }

  listen(listener: RevokeListener): Promise<Unsubscribe> {
    return this.mirror.listen(listener);
  }

  /** The subscriber lost its connection: notices may be missed until the next reload. */
  invalidate(): void {
    this.mirror.invalidate();
  }

  /** Reads the whole set again (after a reconnect). */
  reload(): Promise<void> {
    return this.mirror.reload();
  }
}
