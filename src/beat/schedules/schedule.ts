/**
 * The contract every beat schedule keeps. The JSON shape each kind is stored as belongs to
 * the beat-store contract (backends/stored-schedule.ts) and is re-exported here.
 * Schedules are pure values: they answer "when is the next run after instant T?" for a T the
 * caller passes in. Nothing here (or in any schedule) may read the clock, start a timer, do I/O
 * or depend on the host's time zone: beat injects time so tests can cover years in milliseconds.
 * This file holds types only, so the schedule kinds can import it without an import cycle;
 * `scheduleFromJson` lives in `schedule-json.ts` because it needs every kind.
 */

export type ScheduleKind = 'crontab' | 'interval' | 'clocked' | 'solar';

export type {
  SolarEvent,
  CrontabDayMatch,
  CrontabJson,
  IntervalJson,
  ClockedJson,
  SolarJson,
  ScheduleJson,
} from '../../backends/stored-schedule.js';
import type { ScheduleJson } from '../../backends/stored-schedule.js';

export interface Schedule {
  readonly kind: ScheduleKind;
  /**
   * The first run strictly after `after`, or `null` when the schedule has no run after it
   * (a clocked run in the past, a solar event that cannot happen at that latitude).
   */
  nextAfter(after: Date): Date | null;
  /**
   * The last run at or before `at`, or `null` when there is none. Consistent with `nextAfter`:
   * it returns only instants `nextAfter` can return. Beat uses it to catch up once after downtime
   * without walking through every missed run.
   */
  previousAtOrBefore(at: Date): Date | null;
  /** One line for logs, the CLI and the dashboard, e.g. `crontab "0 8 * * *" in Europe/London`. */
  describe(): string;
  toJSON(): ScheduleJson;
}
