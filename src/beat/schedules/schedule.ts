/**
 * The contract every beat schedule keeps, and the JSON shape each kind is stored as.
 * Schedules are pure values: they answer "when is the next run after instant T?" for a T the
 * caller passes in. Nothing here (or in any schedule) may read the clock, start a timer, do I/O
 * or depend on the host's time zone: beat injects time so tests can cover years in milliseconds.
 * This file holds types only, so the schedule kinds can import it without an import cycle;
 * `scheduleFromJson` lives in `schedule-json.ts` because it needs every kind.
 */

export type ScheduleKind = 'crontab' | 'interval' | 'clocked' | 'solar';

/** Celery's solar events. Twilight events use the sun's centre; sunrise and sunset its upper limb. */
export type SolarEvent =
  | 'sunrise'
  | 'sunset'
  | 'dawn_astronomical'
  | 'dawn_nautical'
  | 'dawn_civil'
  | 'dusk_astronomical'
  | 'dusk_nautical'
  | 'dusk_civil'
  | 'solar_noon';

/**
 * How a crontab combines day-of-month and day-of-week when both are restricted.
 * - `'vixie'` (default): as Vixie cron and cronie. If either field starts with `*`, a day must
 *   match both (so `*` means "no constraint"); otherwise a day matching either field runs.
 *   `0 0 1,15 * MON` runs on the 1st, the 15th and every Monday.
 * - `'both'`: a day must match both fields, as Python Celery's `crontab` does.
 *   `crontab({ dayOfMonth: '1-7', dayOfWeek: 'MON' }, { dayMatch: 'both' })` is the first Monday.
 */
export type CrontabDayMatch = 'vixie' | 'both';

export interface CrontabJson {
  kind: 'crontab';
  /** Normalised 5-field (`m h dom mon dow`) or 6-field (leading seconds) expression. */
  expr: string;
  /** Canonical IANA zone name the expression is read in. */
  tz: string;
  /** Absent means `'vixie'`. */
  dayMatch?: CrontabDayMatch;
}

export interface IntervalJson {
  kind: 'interval';
  /** Period in milliseconds, a positive integer. */
  everyMs: number;
  /** ISO 8601 instant runs are aligned to; absent means the Unix epoch. */
  anchor?: string;
}

export interface ClockedJson {
  kind: 'clocked';
  /** ISO 8601 instant of the single run. */
  at: string;
}

export interface SolarJson {
  kind: 'solar';
  event: SolarEvent;
  /** Degrees, -90 (south) to 90 (north). */
  latitude: number;
  /** Degrees, -180 (west) to 180 (east). */
  longitude: number;
}

/** What a schedule is stored as. Round-trips: `scheduleFromJson(s.toJSON())` equals `s`. */
export type ScheduleJson = CrontabJson | IntervalJson | ClockedJson | SolarJson;

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
