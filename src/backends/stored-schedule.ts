/**
 * How a schedule is stored: the JSON shape of each schedule kind and the missed-run policy,
 * as the beat-store contract keeps them. Types only and no imports, so the contracts can
 * name them without depending on the schedule maths above them (beat/schedules/).
 */

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

/** What to do with runs missed while beat was down: run the latest once, or drop them. */
export type MissedRunPolicy = 'catch-up-once' | 'skip';
