/**
 * Revocations for the Redis backend: a zset of our own (`celeriac.revoked`, task id ->
 * unix ms until which the revocation holds) plus a channel announcing each revoke. While
 * someone listens on the channel, the whole set is mirrored in memory (loaded after the
 * subscription is confirmed, reloaded after every reconnect), so a worker asking "is this
 * task revoked?" before each task costs no round trip. Must never answer from memory while
 * the mirror may have missed a notice: then it asks Redis.
 */
import type { Redis } from 'ioredis';
import type { Unsubscribe } from '../backend.js';
import { decodeRevoke, encodeRevoke } from './codec.js';
import type { ResultKeyspace } from './keys.js';
import type { SharedSubscriber } from './shared-subscriber.js';

type RevokeListener = (taskId: string, terminate: boolean) => void;

export class Revocations {
  private readonly listeners = new Set<RevokeListener>();
  /** The revoke channel's subscription, shared by every listener. */
  private subscription: Promise<() => Promise<void>> | undefined;
  /** id -> until (unix ms); defined only while complete. */
  private mirror: Map<string, number> | undefined;
  private loading: Promise<void> | undefined;
  /** Notices that arrive while the set is being read, applied once it is. */
  private arrivedWhileLoading: Array<{ ids: string[]; until: number }> | undefined;

  constructor(
    private readonly client: Redis,
    private readonly subscriber: SharedSubscriber,
    private readonly keys: ResultKeyspace,
  ) {}

  async revoke(taskIds: string[], terminate: boolean, forMs: number): Promise<void> {
    const now = Date.now();
    const until = now + forMs;
    await this.client
      .multi()
      .zadd(this.keys.revoked, ...taskIds.flatMap((id) => [until, id]))
      .zremrangebyscore(this.keys.revoked, '-inf', now)
      .publish(this.keys.revokeChannel, encodeRevoke(taskIds, terminate, until))
      .exec();
    // Our own revoke is known at once, whatever the channel's timing.
    if (this.mirror) for (const id of taskIds) this.mirror.set(id, until);
  }

  /** Asks Redis whether one id is revoked (when no complete mirror is kept). */
  async askRedis(taskId: string): Promise<boolean> {
    const score = await this.client.zscore(this.keys.revoked, taskId);
    return score !== null && Number(score) > Date.now();
  }

  /** From the mirror while it is complete; undefined when Redis must be asked. */
  isRevoked(taskId: string): boolean | undefined {
    const mirror = this.mirror;
    if (!mirror) return undefined;
    const until = mirror.get(taskId);
    return until !== undefined && until > Date.now();
  }

  async listen(listener: RevokeListener): Promise<Unsubscribe> {
    this.listeners.add(listener);
    this.subscription ??= this.subscriber
      .subscribe(this.keys.revokeChannel, (text) => this.onNotice(text))
      .then(async (unsubscribe) => {
        await this.reload();
        return unsubscribe;
      });
    const subscription = this.subscription;
    await subscription;
    return async () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      if (this.subscription === subscription) this.subscription = undefined;
      this.mirror = undefined;
      await (
        await subscription
      )();
    };
  }

  /** The subscriber lost its connection: notices may be missed until the next reload. */
  invalidate(): void {
    this.mirror = undefined;
  }

  /** Reads the whole set again (after subscribing, and after a reconnect). */
  reload(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    this.mirror = undefined;
    const arrived: Array<{ ids: string[]; until: number }> = [];
    this.arrivedWhileLoading = arrived;
    try {
      const flat = await this.client.zrangebyscore(
        this.keys.revoked,
        Date.now(),
        '+inf',
        'WITHSCORES',
      );
      const mirror = new Map<string, number>();
      for (let i = 0; i < flat.length; i += 2) mirror.set(flat[i] as string, Number(flat[i + 1]));
      for (const notice of arrived) for (const id of notice.ids) mirror.set(id, notice.until);
      if (this.listeners.size > 0) this.mirror = mirror;
    } catch {
      this.mirror = undefined;
    } finally {
      this.arrivedWhileLoading = undefined;
    }
  }

  private onNotice(text: string): void {
    const notice = decodeRevoke(text);
    if (!notice) return;
    this.arrivedWhileLoading?.push(notice);
    if (this.mirror)
      for (const id of notice.ids)
        this.mirror.set(id, Math.max(this.mirror.get(id) ?? 0, notice.until));
    for (const id of notice.ids) {
      for (const listener of [...this.listeners]) listener(id, notice.terminate);
    }
  }
}
