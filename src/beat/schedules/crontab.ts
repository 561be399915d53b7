/**
 * Crontab schedules in an IANA time zone: `crontab('0 8 * * *', { tz: 'Europe/London' })` or the
 * Celery-style object form `crontab({ minute: 0, hour: 8 })`. Matching is croner's; validation is
 * ours (crontab-fields.ts); the time-zone and daylight-saving promises below are ours too, and
 * test/beat/schedules/crontab-dst.test.ts holds them to it.
 *
 * Daylight saving time (a "fixed-time" job has no `*` and no step in its second, minute and hour
 * fields, e.g. `30 1 * * *` or `0 9,17 * * *`; any other job is an "interval" job):
 * - A fixed-time job whose local time does not exist on a spring-forward day runs once, at the
 *   first valid instant after the gap (01:30 in Europe/London on the last Sunday of March runs at
 *   02:00 BST). Several times inside one gap run once, together.
 * - A fixed-time job whose local time occurs twice on a fall-back day runs once, at the first
 *   occurrence (01:30 BST, not again at 01:30 GMT).
 * - An interval job follows real time: in a repeated hour it runs on both passes (`*\/30 * * * *`
 *   keeps running every 30 minutes), and local times inside a gap are skipped, as in Vixie cron.
 * Without `tz` the expression is read in UTC, never in the host's zone, so a schedule means the
 * same thing on every machine.
 *
 * Must never read the clock, start a timer or depend on the process time zone.
 */

import { Cron } from 'croner';

import { fieldsToExpression, parseCronExpression, type CrontabFields } from './crontab-fields.js';
import { InvalidScheduleError, assertValidDate, quote } from './errors.js';
import type { CrontabDayMatch, CrontabJson, Schedule } from './schedule.js';

export type { CronFieldValue, CrontabFields } from './crontab-fields.js';

export interface CrontabOptions {
  /**
   * IANA time zone the fields are read in, e.g. `'Europe/London'`. Names are checked and stored
   * canonically (`'europe/london'` becomes `'Europe/London'`).
   * @default 'UTC'
   */
  tz?: string;
  /**
   * How day-of-month and day-of-week combine when both are restricted; see `CrontabDayMatch`.
   * Set `'both'` when porting a Celery crontab that restricts both.
   * @default 'vixie'
   */
  dayMatch?: CrontabDayMatch;
}

/**
 * Builds a crontab schedule.
 *
 * @param spec a 5-field (`minute hour day-of-month month day-of-week`) or 6-field (leading
 *   `second`) expression, a nickname (`@daily`, `@hourly`, ...), or Celery-style fields.
 * @throws InvalidScheduleError naming the field and the bad value
 * @example crontab('0 8 * * MON-FRI', { tz: 'Europe/London' })
 * @example crontab({ minute: 0, hour: [9, 17], dayOfWeek: 'MON-FRI' }, { tz: 'America/New_York' })
 */
export function crontab(
  spec: string | CrontabFields,
  options: CrontabOptions = {},
): CrontabSchedule {
  return new CrontabSchedule(typeof spec === 'string' ? spec : fieldsToExpression(spec), options);
}

export class CrontabSchedule implements Schedule {
  readonly kind = 'crontab' as const;
  /** The normalised expression (names upper-cased, single spaces). */
  readonly expression: string;
  /** The canonical IANA zone name. */
  readonly tz: string;
  readonly dayMatch: CrontabDayMatch;
  private readonly cron: Cron;
  private lastNext: { query: number; result: number | null } | null = null;
  private lastPrevious: { query: number; result: number | null } | null = null;

  constructor(expression: string, options: CrontabOptions = {}) {
    const dayMatch = options.dayMatch ?? 'vixie';
    if (dayMatch !== 'vixie' && dayMatch !== 'both') {
      throw new InvalidScheduleError(
        'dayMatch',
        dayMatch,
        `crontab dayMatch ${quote(dayMatch)} is not valid; use "vixie" or "both".`,
      );
    }
    const parsed = parseCronExpression(expression, dayMatch);
    this.expression = parsed.expression;
    this.tz = canonicalZone(options.tz ?? 'UTC');
    this.dayMatch = dayMatch;
    try {
      this.cron = new Cron(parsed.expression, {
        timezone: this.tz,
        mode: '5-or-6-parts',
        domAndDow: parsed.daysMatchBoth,
        // Lists and ranges of explicit times (`30 1,13 * * *`) are fixed-time jobs too, so they
        // run once in a repeated hour, as in Vixie cron. Croner's default would run them twice.
        fixedTimeRule: 'no-wildcard',
      });
    } catch (error) {
      // Our parser accepts a subset of croner's syntax, so this means the two disagree: say so.
      throw new InvalidScheduleError(
        'expr',
        expression,
        `crontab expression ${quote(expression)} was refused by the matcher: ${(error as Error).message}`,
      );
    }
  }

  nextAfter(after: Date): Date | null {
    assertValidDate(after, 'after');
    const t = after.getTime();
    // Beat asks the same question every tick while it waits; a croner lookup costs tens of
    // microseconds. If the last answer r was the first run after q, it is also the first run
    // after any instant in [q, r), so it can be reused without changing any result.
    const hit = this.lastNext;
    if (hit !== null && t >= hit.query && (hit.result === null || t < hit.result)) {
      return hit.result === null ? null : new Date(hit.result);
    }
    const next = this.cron.nextRun(after);
    this.lastNext = { query: t, result: next?.getTime() ?? null };
    return next;
  }

  previousAtOrBefore(at: Date): Date | null {
    assertValidDate(at, 'at');
    const t = at.getTime();
    // Same reuse as nextAfter: if p was the last run at or before q, it is also the last run at
    // or before any instant in [p, q].
    const hit = this.lastPrevious;
    if (hit !== null && hit.result !== null && t <= hit.query && t >= hit.result) {
      return new Date(hit.result);
    }
    // Croner looks strictly before its reference, ignoring milliseconds within the second.
    // Runs are on whole seconds, so "at or before `at`" is "before the next millisecond".
    const [previous] = this.cron.previousRuns(1, new Date(t + 1));
    this.lastPrevious = { query: t, result: previous?.getTime() ?? null };
    return previous ?? null;
  }

  describe(): string {
    const both = this.dayMatch === 'both' ? ' (day-of-month and day-of-week must both match)' : '';
    return `crontab "${this.expression}" in ${this.tz}${both}`;
  }

  toJSON(): CrontabJson {
    return this.dayMatch === 'both'
      ? { kind: 'crontab', expr: this.expression, tz: this.tz, dayMatch: 'both' }
      : { kind: 'crontab', expr: this.expression, tz: this.tz };
  }
}

/** Checks an IANA zone name against the runtime's zone database and returns its canonical form. */
function canonicalZone(tz: unknown): string {
  if (typeof tz === 'string' && tz.trim() !== '') {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
    } catch {
      // Fall through to the error below.
    }
  }
  throw new InvalidScheduleError(
    'tz',
    tz,
    `crontab time zone ${quote(tz)} is not a known IANA zone name; use one like "Europe/London", "America/New_York" or "UTC".`,
  );
}
