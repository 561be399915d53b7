/**
 * One-off schedules: `clocked(new Date('2026-12-24T18:00:00Z'))` runs once at that instant and
 * then never again (`nextAfter` returns null once the instant is not after its argument).
 * Must never read the clock: whether the run is "past" depends only on the instant passed in.
 */

import { InvalidScheduleError, assertValidDate, quote } from './errors.js';
import type { ClockedJson, Schedule } from './schedule.js';

/**
 * Builds a one-off schedule.
 * @throws InvalidScheduleError if `at` is not a valid Date
 */
export function clocked(at: Date): ClockedSchedule {
  return new ClockedSchedule(at);
}

export class ClockedSchedule implements Schedule {
  readonly kind = 'clocked' as const;
  private readonly atMs: number;

  constructor(at: Date) {
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
      throw new InvalidScheduleError(
        'at',
        at,
        `clocked time must be a valid Date, got ${quote(at)}.`,
      );
    }
    this.atMs = at.getTime();
  }

  /** A copy, so callers cannot move the run by mutating a Date. */
  get at(): Date {
    return new Date(this.atMs);
  }

  nextAfter(after: Date): Date | null {
    assertValidDate(after, 'after');
    return this.atMs > after.getTime() ? new Date(this.atMs) : null;
  }

  previousAtOrBefore(at: Date): Date | null {
    assertValidDate(at, 'at');
    return this.atMs <= at.getTime() ? new Date(this.atMs) : null;
  }

  describe(): string {
    return `once at ${new Date(this.atMs).toISOString()}`;
  }

  toJSON(): ClockedJson {
    return { kind: 'clocked', at: new Date(this.atMs).toISOString() };
  }
}
