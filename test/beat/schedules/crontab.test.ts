import { afterEach, describe, expect, it } from 'vitest';

import { crontab, InvalidScheduleError } from '../../../src/beat/schedules/index.js';
import { iso, runsBetween } from './local-time.js';

const days = (runs: readonly Date[]): string[] => runs.map((r) => r.toISOString().slice(0, 10));

describe('crontab matching', () => {
  it('runs "0 0 31 * *" only in the seven 31-day months', () => {
    const runs = runsBetween(crontab('0 0 31 * *'), '2026-01-01T00:00:00Z', '2027-12-31T23:59:59Z');
    expect(days(runs)).toEqual(
      ['01', '03', '05', '07', '08', '10', '12']
        .flatMap((m) => [`2026-${m}-31`])
        .concat(['01', '03', '05', '07', '08', '10', '12'].map((m) => `2027-${m}-31`)),
    );
  });

  it('runs "0 0 29 2 *" only in leap years over ten years (2024, 2028, 2032)', () => {
    expect(
      days(runsBetween(crontab('0 0 29 2 *'), '2024-01-01T00:00:00Z', '2033-12-31T23:59:59Z')),
    ).toEqual(['2024-02-29', '2028-02-29', '2032-02-29']);
  });

  it('knows 2100 is not a leap year ("0 0 29 2 *" after 2097 next runs in 2104)', () => {
    expect(crontab('0 0 29 2 *').nextAfter(new Date('2097-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2104-02-29T00:00:00.000Z',
    );
  });

  it('runs a 6-field "* * * * * *" every second: 3600 consecutive seconds in an hour', () => {
    const runs = runsBetween(
      crontab('* * * * * *'),
      '2026-05-01T10:00:00Z',
      '2026-05-01T11:00:00Z',
    );
    expect(runs).toHaveLength(3600);
    expect(
      runs.every((r, i) => r.getTime() === Date.parse('2026-05-01T10:00:01Z') + i * 1000),
    ).toBe(true);
  });

  it('runs a 6-field "*/15 * * * * *" at :00, :15, :30 and :45 of each minute', () => {
    expect(
      iso(runsBetween(crontab('*/15 * * * * *'), '2026-05-01T10:00:00Z', '2026-05-01T10:01:00Z')),
    ).toEqual([
      '2026-05-01T10:00:15.000Z',
      '2026-05-01T10:00:30.000Z',
      '2026-05-01T10:00:45.000Z',
      '2026-05-01T10:01:00.000Z',
    ]);
  });

  it('returns the first run strictly after the instant, to the millisecond', () => {
    const daily = crontab('0 8 * * *');
    expect(daily.nextAfter(new Date('2026-05-01T07:59:59.999Z'))?.toISOString()).toBe(
      '2026-05-01T08:00:00.000Z',
    );
    expect(daily.nextAfter(new Date('2026-05-01T08:00:00.000Z'))?.toISOString()).toBe(
      '2026-05-02T08:00:00.000Z',
    );
    expect(daily.nextAfter(new Date('2026-05-01T08:00:00.001Z'))?.toISOString()).toBe(
      '2026-05-02T08:00:00.000Z',
    );
    expect(daily.previousAtOrBefore(new Date('2026-05-01T08:00:00.000Z'))?.toISOString()).toBe(
      '2026-05-01T08:00:00.000Z',
    );
    expect(daily.previousAtOrBefore(new Date('2026-05-01T07:59:59.999Z'))?.toISOString()).toBe(
      '2026-04-30T08:00:00.000Z',
    );
  });

  it('reads an expression without tz in UTC, whatever the host time zone is', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'America/Los_Angeles';
      expect(crontab('0 8 * * *').nextAfter(new Date('2026-05-01T00:00:00Z'))?.toISOString()).toBe(
        '2026-05-01T08:00:00.000Z',
      );
      expect(
        crontab('0 8 * * *', { tz: 'Asia/Tokyo' })
          .nextAfter(new Date('2026-05-01T00:00:00Z'))
          ?.toISOString(),
      ).toBe('2026-05-01T23:00:00.000Z');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('crontab answers do not depend on earlier questions', () => {
  it('gives the same answers in any query order as a fresh schedule does (reusing answers is invisible)', () => {
    const reused = crontab('*/20 1-2 * * *', { tz: 'Europe/London' });
    const start = Date.parse('2026-10-24T22:00:00Z');
    let seed = 7;
    const mismatches: string[] = [];
    for (let i = 0; i < 400; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const at = new Date(start + (seed % (8 * 3_600_000)));
      const fresh = crontab('*/20 1-2 * * *', { tz: 'Europe/London' });
      const [a, b] = [reused.nextAfter(at)?.getTime(), fresh.nextAfter(at)?.getTime()];
      const [c, d] = [
        reused.previousAtOrBefore(at)?.getTime(),
        fresh.previousAtOrBefore(at)?.getTime(),
      ];
      if (a !== b || c !== d) mismatches.push(at.toISOString());
    }
    expect(mismatches).toEqual([]);
  });
});

describe('crontab day-of-month and day-of-week', () => {
  // July 2026: the 1st and 15th are Wednesdays; the Mondays are the 6th, 13th, 20th and 27th.
  const july = (expr: string, options = {}) =>
    days(runsBetween(crontab(expr, options), '2026-06-30T23:59:59Z', '2026-07-31T23:59:59Z'));

  it('runs on either day when both are restricted, as Vixie cron ("0 0 1,15 * MON")', () => {
    expect(july('0 0 1,15 * MON')).toEqual([
      '2026-07-01',
      '2026-07-06',
      '2026-07-13',
      '2026-07-15',
      '2026-07-20',
      '2026-07-27',
    ]);
  });

  it('needs both when a day field starts with "*", as Vixie cron ("0 0 */2 * MON" is odd-numbered Mondays)', () => {
    expect(july('0 0 */2 * MON')).toEqual(['2026-07-13', '2026-07-27']);
  });

  it('needs both with dayMatch "both", as Celery (first Monday of the month)', () => {
    const firstMonday = crontab(
      { minute: 0, hour: 0, dayOfMonth: '1-7', dayOfWeek: 'mon' },
      { dayMatch: 'both' },
    );
    expect(days(runsBetween(firstMonday, '2026-07-01T00:00:00Z', '2026-10-31T00:00:00Z'))).toEqual([
      '2026-07-06',
      '2026-08-03',
      '2026-09-07',
      '2026-10-05',
    ]);
  });

  it('reads day-of-week 7 and SUN as Sunday, and FRI-SUN as Friday to Sunday', () => {
    expect(july('0 0 * * 7')).toEqual(july('0 0 * * 0'));
    expect(july('0 0 * * sun')).toEqual(['2026-07-05', '2026-07-12', '2026-07-19', '2026-07-26']);
    expect(july('0 0 * * FRI-SUN').slice(0, 3)).toEqual(['2026-07-03', '2026-07-04', '2026-07-05']);
  });

  it('runs "0 0 30 2 MON" on February Mondays: day-of-week rescues a day-of-month that never occurs', () => {
    expect(
      days(runsBetween(crontab('0 0 30 2 MON'), '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z')),
    ).toEqual(['2026-02-02', '2026-02-09', '2026-02-16', '2026-02-23']);
  });
});

describe('crontab forms and normalisation', () => {
  it('builds the same schedule from Celery-style fields as from the expression', () => {
    const fromObject = crontab(
      { minute: 0, hour: [9, 17], dayOfWeek: 'mon-fri' },
      { tz: 'America/New_York' },
    );
    expect(fromObject.expression).toBe('0 9,17 * * MON-FRI');
    expect(fromObject.toJSON()).toEqual(
      crontab('0 9,17 * * mon-fri', { tz: 'America/New_York' }).toJSON(),
    );
  });

  it('makes a 6-field expression when the object form has a second', () => {
    expect(crontab({ second: '*/10' }).expression).toBe('*/10 * * * * *');
    expect(crontab({}).expression).toBe('* * * * *');
  });

  it('expands nicknames', () => {
    expect(crontab('@daily').expression).toBe('0 0 * * *');
    expect(crontab('@HOURLY').expression).toBe('0 * * * *');
    expect(crontab('@weekly').nextAfter(new Date('2026-07-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-07-05T00:00:00.000Z',
    );
  });

  it('normalises spacing and name case, and stores the canonical zone name', () => {
    const schedule = crontab('  0   12 * jan-mar  Mon  ', { tz: 'europe/london' });
    expect(schedule.toJSON()).toEqual({
      kind: 'crontab',
      expr: '0 12 * JAN-MAR MON',
      tz: 'Europe/London',
    });
    expect(schedule.describe()).toBe('crontab "0 12 * JAN-MAR MON" in Europe/London');
  });
});

describe('crontab validation', () => {
  const error = (fn: () => unknown): InvalidScheduleError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidScheduleError);
      return e as InvalidScheduleError;
    }
    throw new Error('expected an InvalidScheduleError');
  };

  it.each([
    ['* * *', 'expr', /has 3 fields; expected 5 .* or 6/],
    ['', 'expr', /has 0 fields/],
    ['* * * * * * *', 'expr', /has 7 fields/],
    ['61 * * * *', 'minute', /minute "61" is out of range: allowed 0-59/],
    ['60 * * * * *', 'second', /second "60" is out of range: allowed 0-59/],
    ['0 24 * * *', 'hour', /hour "24" is out of range: allowed 0-23/],
    ['0 0 32 * *', 'dayOfMonth', /day-of-month "32" is out of range: allowed 1-31/],
    ['0 0 0 * *', 'dayOfMonth', /day-of-month "0" is out of range/],
    ['0 0 * 13 *', 'monthOfYear', /month "13" is out of range: allowed 1-12 or JAN-DEC/],
    ['0 0 * * 8', 'dayOfWeek', /day-of-week "8" is out of range: allowed 0-7/],
    ['0 0 * FOO *', 'monthOfYear', /month "FOO" is not a number/],
    ['a * * * *', 'minute', /minute "a" is not a number/],
    ['*/0 * * * *', 'minute', /minute step "\*\/0" must be a whole number from 1 to 60/],
    ['*/61 * * * *', 'minute', /from 1 to 60/],
    ['5/15 * * * *', 'minute', /steps from a single value .* "5-59\/15" or "\*\/15"/],
    ['10-5 * * * *', 'minute', /range "10-5" runs backwards/],
    ['1,,2 * * * *', 'minute', /empty list item/],
    ['1-2-3 * * * *', 'minute', /"1-2-3" is not a value or a range/],
    ['*/5/2 * * * *', 'minute', /more than one "\/"/],
    ['0 0 L * *', 'dayOfMonth', /day-of-month "L" is not a number/],
    ['0 0 ? * *', 'dayOfMonth', /day-of-month "\?" is not a number/],
    ['0 0 * * MON#2', 'dayOfWeek', /day-of-week "MON#2" is not a number/],
    ['0 0 15W * *', 'dayOfMonth', /"15W" is not a number/],
    ['0 0 30 2 *', 'dayOfMonth', /day-of-month "30" never occurs in month "2"/],
    ['0 0 31 4,6,9,11 *', 'dayOfMonth', /never occurs/],
    ['@reboot', 'expr', /nickname "@reboot" is not supported/],
  ])('refuses %j, naming field %s and the value', (expr, field, message) => {
    const e = error(() => crontab(expr));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('refuses an unknown time zone, naming it', () => {
    const e = error(() => crontab('0 8 * * *', { tz: 'Mars/Olympus_Mons' }));
    expect(e.field).toBe('tz');
    expect(e.message).toMatch(/time zone "Mars\/Olympus_Mons" is not a known IANA zone name/);
    expect(error(() => crontab('0 8 * * *', { tz: '' })).field).toBe('tz');
  });

  it('refuses an unknown dayMatch', () => {
    expect(error(() => crontab('0 8 * * *', { dayMatch: 'either' as never })).message).toMatch(
      /dayMatch "either" is not valid/,
    );
  });

  it.each([
    [
      { day_of_week: 'mon' },
      'day_of_week',
      /field "day_of_week" is unknown; use second, minute, hour, dayOfMonth, monthOfYear, dayOfWeek/,
    ],
    [{ minute: 1.5 }, 'minute', /minute "1.5" is out of range/],
    [{ hour: [] }, 'hour', /hour \[\] must be a non-empty list of whole numbers/],
    [{ hour: '9 17' }, 'hour', /hour "9 17" must be one field without spaces/],
    [{ monthOfYear: 13 }, 'monthOfYear', /month "13" is out of range/],
    [{ dayOfWeek: true }, 'dayOfWeek', /must be a string, a number or a list of numbers, got true/],
  ])('refuses the object form %j, naming field %s', (fields, field, message) => {
    const e = error(() => crontab(fields as never));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });
});

afterEach(() => {
  // The host-time-zone test restores TZ itself; this guards against a failure leaving it changed.
  expect(process.env.TZ).not.toBe('America/Los_Angeles');
});
