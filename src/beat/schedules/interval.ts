/**
 * Fixed-interval schedules: `every('5m')`, `every(30_000, { anchor })`. Runs fall on
 * `anchor + k * period` (k = 0, 1, 2, ...), so the grid is a property of the schedule, not of
 * when beat last ran: a restart, a slow tick or a second replica never shifts later runs.
 * Without an anchor the grid is aligned to the Unix epoch, so `every('1h')` runs on the hour
 * (UTC) and `every('5m')` at :00, :05, ... Intervals are real elapsed time and ignore daylight
 * saving; use a crontab for "every day at 08:00 local".
 * Must never read the clock or drift by measuring from the last run.
 */

import { formatDuration, parseDuration } from './duration.js';
import { InvalidScheduleError, assertValidDate, quote } from './errors.js';
import type { IntervalJson, Schedule } from './schedule.js';

export interface IntervalOptions {
  /**
   * The first run; later runs are whole periods after it. Before the anchor there are no runs.
   * @default the Unix epoch (1970-01-01T00:00:00Z), with runs before it too
   * @example every('1d', { anchor: new Date('2026-01-01T06:30:00Z') }) // 06:30 UTC daily
   */
  anchor?: Date;
}

/**
 * Builds an interval schedule.
 * @param period milliseconds, or a duration string such as `'30s'`, `'5m'`, `'1h30m'`, `'2d'`
 * @throws InvalidScheduleError if the period is not a positive whole duration or the anchor is not a valid Date
 */
export function every(period: number | string, options: IntervalOptions = {}): IntervalSchedule {
  return new IntervalSchedule(parseDuration(period, 'every'), options.anchor);
}

export class IntervalSchedule implements Schedule {
  readonly kind = 'interval' as const;
  readonly everyMs: number;
  /** `null` means the epoch grid with no first run. */
  readonly anchor: Date | null;
  private readonly origin: number;

  constructor(everyMs: number, anchor?: Date | null) {
    this.everyMs = parseDuration(everyMs, 'everyMs');
    if (anchor === undefined || anchor === null) {
      this.anchor = null;
    } else {
      if (!(anchor instanceof Date) || Number.isNaN(anchor.getTime())) {
        throw new InvalidScheduleError(
          'anchor',
          anchor,
          `interval anchor must be a valid Date, got ${quote(anchor)}.`,
        );
      }
      this.anchor = new Date(anchor.getTime());
    }
    this.origin = this.anchor?.getTime() ?? 0;
  }

  nextAfter(after: Date): Date | null {
    assertValidDate(after, 'after');
    const t = after.getTime();
    if (this.anchor !== null && t < this.origin) return new Date(this.origin);
    return new Date(
      this.origin + (Math.floor((t - this.origin) / this.everyMs) + 1) * this.everyMs,
    );
  }

  previousAtOrBefore(at: Date): Date | null {
    assertValidDate(at, 'at');
    const t = at.getTime();
    if (this.anchor !== null && t < this.origin) return null;
    return new Date(this.origin + Math.floor((t - this.origin) / this.everyMs) * this.everyMs);
  }

  describe(): string {
    const from = this.anchor === null ? '' : ` from ${this.anchor.toISOString()}`;
    return `every ${formatDuration(this.everyMs)}${from}`;
  }

  toJSON(): IntervalJson {
    return this.anchor === null
      ? { kind: 'interval', everyMs: this.everyMs }
      : { kind: 'interval', everyMs: this.everyMs, anchor: this.anchor.toISOString() };
  }
}
