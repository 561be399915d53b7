/**
 * The in-memory mirror of revoked task ids that a backend keeps while someone listens for
 * revokes, so a worker asking "is this task revoked?" before each task costs no round trip.
 * Shared by every backend that announces revokes on a channel (the key-value base, Redis):
 * the backend says how to subscribe and how to read the whole revoked set; this keeps the
 * listeners, loads the set after the subscription starts (so no notice is missed), merges
 * notices that arrive while it loads, and dispatches each one. Must never answer from the
 * mirror while it may be incomplete: `isRevoked` then says `undefined` and the backend asks.
 */
import type { Unsubscribe } from '../backend.js';

export type RevokeListener = (taskId: string, terminate: boolean) => void;

export interface RevokeNotice {
  ids: string[];
  terminate: boolean;
  /** Unix ms until which the revocation holds. */
  until: number;
}

/** A revoke notice as it travels on the channel. */
export function encodeRevokeNotice(
  ids: readonly string[],
  terminate: boolean,
  until: number,
): string {
  return JSON.stringify({ ids, terminate, until });
}

/** The notice in `text`, or undefined for anything else on the channel (a foreign client). */
export function decodeRevokeNotice(text: string): RevokeNotice | undefined {
  try {
    const value = JSON.parse(text) as { ids?: unknown; terminate?: unknown; until?: unknown };
    if (!Array.isArray(value.ids)) return undefined;
    return {
      ids: value.ids.filter((id): id is string => typeof id === 'string'),
      terminate: value.terminate === true,
      until: typeof value.until === 'number' ? value.until : Date.now() + 86_400_000,
    };
  } catch {
    return undefined;
  }
}

export interface RevocationSource {
  /** Subscribes to the revoke channel; resolves once the subscription is confirmed. */
  subscribe(onText: (text: string) => void): Promise<Unsubscribe>;
  /** Every id revoked now, with until when (unix ms). */
  loadAll(): Promise<Map<string, number>>;
}

export class RevocationMirror {
  private readonly listeners = new Set<RevokeListener>();
  /** The channel's subscription, shared by every listener. */
  private subscription: Promise<Unsubscribe> | undefined;
  /** id -> until (unix ms); defined only while complete. */
  private mirror: Map<string, number> | undefined;
  private loading: Promise<void> | undefined;
  /** Notices that arrive while the set is being read, applied once it is. */
  private arrivedWhileLoading: RevokeNotice[] | undefined;

  constructor(private readonly source: RevocationSource) {}

  /** From the mirror while it is complete; undefined when the store must be asked. */
  isRevoked(taskId: string): boolean | undefined {
    const mirror = this.mirror;
    if (!mirror) return undefined;
    const until = mirror.get(taskId);
    return until !== undefined && until > Date.now();
  }

  /** This process revoked the ids: known at once, whatever the channel's timing. */
  noteLocal(taskIds: readonly string[], until: number): void {
    if (this.mirror) for (const id of taskIds) this.mirror.set(id, until);
  }

  async listen(listener: RevokeListener): Promise<Unsubscribe> {
    this.listeners.add(listener);
    this.subscription ??= this.source
      .subscribe((text) => this.onNotice(text))
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

  /** The subscription lost its connection: notices may be missed until the next reload. */
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
    const arrived: RevokeNotice[] = [];
    this.arrivedWhileLoading = arrived;
    try {
      const mirror = await this.source.loadAll();
      for (const notice of arrived) for (const id of notice.ids) mirror.set(id, notice.until);
      if (this.listeners.size > 0) this.mirror = mirror;
    } catch {
      this.mirror = undefined;
    } finally {
      this.arrivedWhileLoading = undefined;
    }
  }

  private onNotice(text: string): void {
    const notice = decodeRevokeNotice(text);
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
