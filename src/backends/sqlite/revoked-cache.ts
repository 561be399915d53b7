/**
 * This process's copy of a file's revocations, so the worker's check of every task it
 * admits (`isRevoked`) is a map lookup instead of a SELECT. The revoked sequence, which
 * every revocation bumps in its own transaction, is read at most once per event-loop turn;
 * only when it moved are the new rows read. A revocation committed by any process before
 * the turn began is therefore seen, as the per-task SELECT saw it.
 * Past `limit` live revocations it stops copying and answers with the SELECT again.
 * Must never answer "not revoked" for a revocation older than the current turn.
 */
import type { ResultStore } from './result-store.js';

/** Live revocations held in memory at most; beyond them each check asks the database. */
const DEFAULT_LIMIT = 100_000;

export class RevokedCache {
  /** Revoked task ids and when each revocation expires (0 = never). */
  private readonly expiry = new Map<string, number>();
  /** The revoked sequence the map is complete up to. */
  private seq = 0;
  /** True until the current turn ends: the sequence was read in it. */
  private fresh = false;
  private overflow = false;
  private readonly stale = (): void => {
    this.fresh = false;
  };

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  isRevoked(store: ResultStore, taskId: string, now: number): boolean {
    if (!this.fresh) this.refresh(store, now);
    if (this.overflow) return store.isRevoked(taskId, now);
    const expiresAt = this.expiry.get(taskId);
    return expiresAt !== undefined && (expiresAt === 0 || expiresAt > now);
  }

  /** Makes the next check read the sequence again (this process just revoked). */
  invalidate(): void {
    this.fresh = false;
  }

  private refresh(store: ResultStore, now: number): void {
    const upto = store.sequence('revoked');
    this.fresh = true;
    setImmediate(this.stale);
    if (upto === this.seq || this.overflow) {
      this.seq = upto;
      return;
    }
    for (const { taskId, expiresAt } of store.revocationsSince(this.seq, upto))
      this.expiry.set(taskId, expiresAt);
    this.seq = upto;
    if (this.expiry.size <= this.limit) return;
    for (const [taskId, expiresAt] of this.expiry)
      if (expiresAt !== 0 && expiresAt <= now) this.expiry.delete(taskId);
    if (this.expiry.size > this.limit) {
      this.overflow = true;
      this.expiry.clear();
    }
  }
}
