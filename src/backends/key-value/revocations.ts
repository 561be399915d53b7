/**
 * Revocations on a key-value store: one key per revoked id (holding until when it holds,
 * with the same time to live) plus a channel announcing each revoke. While someone listens,
 * every revoked id is mirrored in memory (loaded after the subscription starts, so nothing
 * is missed), and `isRevoked` answers without a round trip. Must never answer from the
 * mirror before it is complete.
 */
import type { Unsubscribe } from '../backend.js';
import type { KeyValueStore } from './key-value-store.js';

type RevokeListener = (taskId: string, terminate: boolean) => void;

interface RevokeNotice {
  ids: string[];
  terminate: boolean;
  until: number;
}

export class KeyValueRevocations {
  private readonly listeners = new Set<RevokeListener>();
  private subscription: Promise<Unsubscribe> | undefined;
  /** id -> until (unix ms); defined only while complete. */
  private mirror: Map<string, number> | undefined;
  /** Notices seen while the mirror is being loaded, merged into it once it is. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly store: KeyValueStore,
    private readonly keyPrefix: string,
    private readonly channel: string,
  ) {}

  private keyOf(taskId: string): string {
    return `${this.keyPrefix}${taskId}`;
  }

  async revoke(taskIds: string[], terminate: boolean, forMs: number): Promise<void> {
    if (taskIds.length === 0) return;
    const until = Date.now() + forMs;
    const value = String(until);
    await Promise.all(taskIds.map((id) => this.store.set(this.keyOf(id), value, { ttlMs: forMs })));
    // Our own revoke is known at once, whatever the channel's timing.
    if (this.mirror) for (const id of taskIds) this.mirror.set(id, until);
    const notice: RevokeNotice = { ids: taskIds, terminate, until };
    await this.store.publish(this.channel, JSON.stringify(notice));
  }

  isRevoked(taskId: string): boolean | Promise<boolean> {
    const mirror = this.mirror;
    if (mirror) {
      const until = mirror.get(taskId);
      return until !== undefined && until > Date.now();
    }
    return this.store
      .get(this.keyOf(taskId))
      .then((value) => value !== undefined && Number(value) > Date.now());
  }

  async listen(listener: RevokeListener): Promise<Unsubscribe> {
    this.listeners.add(listener);
    this.subscription ??= this.store
      .subscribe(this.channel, (text) => this.onNotice(text))
      .then(async (unsubscribe) => {
        await this.load();
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

  /** Reads every revoked id; notices that arrive meanwhile are merged, never lost. */
  private async load(): Promise<void> {
    const loading = new Map<string, number>();
    this.mirror = undefined;
    const keys = await this.store.keys(this.keyPrefix);
    const values = await this.store.mget(keys);
    keys.forEach((key, i) => {
      const until = Number(values[i]);
      if (until > Date.now()) loading.set(key.slice(this.keyPrefix.length), until);
    });
    for (const [id, until] of this.pending) loading.set(id, until);
    this.pending.clear();
    this.mirror = loading;
  }

  private onNotice(text: string): void {
    let notice: RevokeNotice;
    try {
      notice = JSON.parse(text) as RevokeNotice;
    } catch {
      return; // not ours: a foreign client on the channel
    }
    if (!Array.isArray(notice.ids)) return;
    for (const id of notice.ids) {
      if (this.mirror) this.mirror.set(id, notice.until);
      else this.pending.set(id, notice.until);
      for (const listener of this.listeners) listener(id, notice.terminate === true);
    }
  }
}
