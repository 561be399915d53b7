/**
 * Per-task-name start rates set by the `rate_limit` remote command, as Celery's worker
 * applies them: a token bucket of one per task name, refilled at the rate, so tasks of a
 * limited name start at most `perSecond` times a second in this worker. Tasks of other
 * names are not slowed. Costs nothing while no limit is set (the worker checks `size`).
 */
export class RateLimits {
  private readonly limits = new Map<string, { intervalMs: number; nextAt: number }>();

  get size(): number {
    return this.limits.size;
  }

  set(name: string, perSecond: number | null): void {
    if (perSecond === null || !(perSecond > 0)) this.limits.delete(name);
    else this.limits.set(name, { intervalMs: 1000 / perSecond, nextAt: 0 });
  }

  /** Resolves when a task of this name may start. */
  take(name: string): Promise<void> | undefined {
    const limit = this.limits.get(name);
    if (!limit) return undefined;
    const now = Date.now();
    const at = Math.max(now, limit.nextAt);
    limit.nextAt = at + limit.intervalMs;
    if (at <= now) return undefined;
    return new Promise((resolve) => setTimeout(resolve, at - now));
  }
}
