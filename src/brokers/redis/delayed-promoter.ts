/**
 * Moves delayed messages (`celeriac.delayed`) into their queue lists when due. Runs in every
 * process that consumes or has delayed a message itself; each wakes at the earliest due time it knows of, or after
 * `delayedPollMs` to learn of messages delayed by other processes. The move itself is one
 * Lua script, so concurrent promoters never push a message twice.
 * Must never hand a delayed message to a consumer directly: it goes through its list.
 */
import type { RedisBrokerCore } from './core.js';
import { promoteDueScript } from './scripts/delayed.js';

/** Members moved per script call; a backlog is drained in several calls. */
const PROMOTE_BATCH = 500;

export class DelayedPromoter {
  private timer: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private running = false;
  private rerun = false;
  private started = false;

  constructor(private readonly core: RedisBrokerCore) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.wakeIn(0);
  }

  stop(): void {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
  }

  /** A message was delayed until `dueMs`: wake for it if that is sooner than planned. */
  noteDue(dueMs: number): void {
    if (this.started && dueMs < this.wakeAt) this.wakeIn(dueMs - Date.now());
  }

  /** Promotes what is due now; returns how many moved and when the next one is due (unix ms, or undefined). */
  async promoteDue(
    now: number = Date.now(),
  ): Promise<{ moved: number; nextDue: number | undefined }> {
    let moved = 0;
    for (;;) {
      const reply = (await this.core.run(
        promoteDueScript,
        [this.core.keys.delayed],
        [now, PROMOTE_BATCH, this.core.keys.prefix],
      )) as [number, number];
      moved += Number(reply[0]);
      const nextDue = Number(reply[1]);
      if (Number(reply[0]) < PROMOTE_BATCH || nextDue < 0 || nextDue > now) {
        return { moved, nextDue: nextDue < 0 ? undefined : nextDue };
      }
    }
  }

  private wakeIn(delayMs: number): void {
    clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(delayMs, this.core.settings.delayedPollMs));
    this.wakeAt = Date.now() + delay;
    this.timer = setTimeout(() => void this.run(), delay).unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    let next: number | undefined;
    try {
      next = (await this.promoteDue()).nextDue;
    } catch (error) {
      this.core.reportError(error as Error);
    } finally {
      this.running = false;
    }
    if (!this.started) return;
    if (this.rerun) {
      this.rerun = false;
      this.wakeIn(0);
      return;
    }
    // Timers may fire a millisecond early; never plan a wake-up before the due time.
    const planned =
      next === undefined ? this.core.settings.delayedPollMs : Math.max(1, next - Date.now() + 1);
    if (planned < this.wakeAt - Date.now()) this.wakeIn(planned);
  }
}
