/**
 * The decision beat makes for one schedule on each tick, as a pure function of the schedule,
 * the last run, the creation time and `now`. Beat's loop, its store and its leader lock live
 * elsewhere; this file only answers "send a run now? for which slot? when is the next?".
 *
 * - A slot is an instant the schedule produces. `scheduledFor` is the slot a run is for: it is
 *   the same on every replica that evaluates the same tick, so `(schedule name, scheduledFor)`
 *   is the idempotency key that stops two beat replicas sending a tick twice.
 * - A slot seen within `graceMs` of its time is on time, not missed, under both policies: every
 *   such slot is sent, earliest first (one per call), so a leader change or a restart loses no
 *   tick. Slots older than that were missed: there is never a burst of stale runs —
 *   `'catch-up-once'` sends one run for the latest missed slot, `'skip'` sends none.
 * - Slots before `createdAt` never run, so a schedule added (or edited) at 10:00 does not fire
 *   for its 08:00 slot.
 *
 * Must never read the clock, and never return a slot at or before `lastRunAt` (that would send a
 * tick twice).
 */

import { InvalidScheduleError, assertValidDate, quote } from './errors.js';
import type { Schedule } from './schedule.js';

import type { MissedRunPolicy } from '../../backends/stored-schedule.js';
export type { MissedRunPolicy };

export interface DueRunsInput {
  schedule: Schedule;
  /**
   * The `scheduledFor` of the last run sent, or null if it never ran. (The instant it was sent
   * works too, as long as it is before the following slot.)
   */
  lastRunAt: Date | null;
  /** The tick's time, from beat's injected clock. */
  now: Date;
  /**
   * What to do with slots missed while beat was down (or when nothing ticked in time):
   * `'catch-up-once'` runs once for the latest of them; `'skip'` drops them all.
   */
  missedRunPolicy: MissedRunPolicy;
  /** When the schedule was created or last edited; earlier slots never run. */
  createdAt: Date;
  /**
   * How late a slot may be seen and still count as on time rather than missed. Beat ticks with
   * some delay, so this must exceed its tick period.
   * @default 60_000 (one minute)
   */
  graceMs?: number;
}

export interface DueRunsResult {
  /** Send a run now. */
  runNow: boolean;
  /** The slot the run is for (its idempotency key); null when `runNow` is false. */
  scheduledFor: Date | null;
  /** The next slot after this decision, or null when the schedule has no more runs. */
  nextRunAt: Date | null;
}

export const DEFAULT_GRACE_MS = 60_000;

/**
 * Decides whether a schedule is due at `now`.
 * @example
 * const d = dueRuns({ schedule, lastRunAt, now: clock(), missedRunPolicy: 'catch-up-once', createdAt });
 * if (d.runNow) send(task, { idempotencyKey: `${name}@${d.scheduledFor.toISOString()}` });
 * // then store lastRunAt = d.scheduledFor and sleep until d.nextRunAt
 */
export function dueRuns(input: DueRunsInput): DueRunsResult {
  const { schedule, lastRunAt, now, missedRunPolicy, createdAt } = input;
  const graceMs = input.graceMs ?? DEFAULT_GRACE_MS;
  assertValidDate(now, 'now');
  assertValidDate(createdAt, 'createdAt');
  if (lastRunAt !== null) assertValidDate(lastRunAt, 'lastRunAt');
  if (missedRunPolicy !== 'catch-up-once' && missedRunPolicy !== 'skip') {
    throw new InvalidScheduleError(
      'missedRunPolicy',
      missedRunPolicy,
      `missedRunPolicy ${quote(missedRunPolicy)} is not valid; use "catch-up-once" or "skip".`,
    );
  }
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new InvalidScheduleError(
      'graceMs',
      graceMs,
      `graceMs ${quote(graceMs)} must be a number of milliseconds, zero or more.`,
    );
  }

  // The earliest slot that may still run: after the last run, and not before creation.
  const floor = Math.max(lastRunAt?.getTime() ?? -Infinity, createdAt.getTime() - 1);
  const first = schedule.nextAfter(new Date(floor));
  if (first === null) return { runNow: false, scheduledFor: null, nextRunAt: null };
  if (first.getTime() > now.getTime())
    return { runNow: false, scheduledFor: null, nextRunAt: first };

  // Slots within the grace window are on time: each is sent, the earliest first, so a short
  // gap (a leader change, a restart) loses no tick; repeated calls walk forward one by one.
  const graceStart = now.getTime() - graceMs;
  if (first.getTime() >= graceStart) {
    return { runNow: true, scheduledFor: first, nextRunAt: schedule.nextAfter(first) };
  }
  // Slots older than the window were missed. Never a burst of stale runs: 'catch-up-once'
  // sends one run for the latest missed slot, 'skip' none; the on-time slots follow.
  const lastMissed = schedule.previousAtOrBefore(new Date(graceStart - 1));
  if (
    missedRunPolicy === 'catch-up-once' &&
    lastMissed !== null &&
    lastMissed.getTime() >= first.getTime()
  ) {
    return { runNow: true, scheduledFor: lastMissed, nextRunAt: schedule.nextAfter(lastMissed) };
  }
  const onTime = schedule.nextAfter(new Date(Math.max(graceStart - 1, floor)));
  if (onTime !== null && onTime.getTime() <= now.getTime()) {
    return { runNow: true, scheduledFor: onTime, nextRunAt: schedule.nextAfter(onTime) };
  }
  return { runNow: false, scheduledFor: null, nextRunAt: onTime };
}
