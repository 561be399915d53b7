/**
 * Revocations on a key-value store: one key per revoked id (holding until when it holds,
 * with the same time to live) plus a channel announcing each revoke. While someone listens,
 * the shared RevocationMirror keeps every revoked id in memory and `isRevoked` answers
 * without a round trip; otherwise it reads the id's key.
 */
import type { Unsubscribe } from '../backend.js';
import type { KeyValueStore } from './key-value-store.js';
import { encodeRevokeNotice, RevocationMirror, type RevokeListener } from './revocation-mirror.js';

export class KeyValueRevocations {
  private readonly mirror: RevocationMirror;

  constructor(
    private readonly store: KeyValueStore,
    private readonly keyPrefix: string,
    private readonly channel: string,
  ) {
    this.mirror = new RevocationMirror({
      subscribe: (onText) => store.subscribe(channel, onText),
      loadAll: async () => {
        const keys = await store.keys(keyPrefix);
        const values = await store.mget(keys);
        const all = new Map<string, number>();
        const now = Date.now();
        keys.forEach((key, i) => {
          const until = Number(values[i]);
          if (until > now) all.set(key.slice(keyPrefix.length), until);
        });
        return all;
      },
    });
  }

  private keyOf(taskId: string): string {
    return `${this.keyPrefix}${taskId}`;
  }

  async revoke(taskIds: string[], terminate: boolean, forMs: number): Promise<void> {
    if (taskIds.length === 0) return;
    const until = Date.now() + forMs;
    const value = String(until);
    await Promise.all(taskIds.map((id) => this.store.set(this.keyOf(id), value, { ttlMs: forMs })));
    this.mirror.noteLocal(taskIds, until);
    await this.store.publish(this.channel, encodeRevokeNotice(taskIds, terminate, until));
  }

  isRevoked(taskId: string): boolean | Promise<boolean> {
    return (
      this.mirror.isRevoked(taskId) ??
      this.store
        .get(this.keyOf(taskId))
        .then((value) => value !== undefined && Number(value) > Date.now())
    );
  }

  listen(listener: RevokeListener): Promise<Unsubscribe> {
    return this.mirror.listen(listener);
  }
}
