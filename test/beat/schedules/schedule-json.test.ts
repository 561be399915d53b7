import { describe, expect, it } from 'vitest';

import {
  clocked,
  crontab,
  every,
  InvalidScheduleError,
  scheduleFromJson,
  solar,
  type Schedule,
} from '../../../src/beat/schedules/index.js';

const next = (schedule: Schedule, n: number): string[] => {
  const out: string[] = [];
  let cursor: Date | null = new Date('2026-03-01T00:00:00Z');
  for (let i = 0; i < n && cursor !== null; i++) {
    cursor = schedule.nextAfter(cursor);
    if (cursor !== null) out.push(cursor.toISOString());
  }
  return out;
};

describe('schedule JSON round trip', () => {
  const schedules: [string, Schedule][] = [
    ['crontab in a zone', crontab('30 1 * * *', { tz: 'Europe/London' })],
    ['6-field crontab', crontab('*/20 * * * * MON-FRI')],
    [
      'crontab with dayMatch both',
      crontab({ minute: 0, hour: 9, dayOfMonth: '1-7', dayOfWeek: 'MON' }, { dayMatch: 'both' }),
    ],
    ['interval', every('1h30m')],
    ['anchored interval', every('5m', { anchor: new Date('2026-03-01T10:02:03.456Z') })],
    ['clocked', clocked(new Date('2026-03-29T01:30:00Z'))],
    ['solar', solar('dusk_nautical', -33.87, 151.21)],
  ];

  it.each(schedules)(
    '%s survives JSON.stringify and scheduleFromJson with the same runs',
    (_, schedule) => {
      const stored: unknown = JSON.parse(JSON.stringify(schedule));
      const restored = scheduleFromJson(stored);
      expect(restored.kind).toBe(schedule.kind);
      expect(restored.toJSON()).toEqual(schedule.toJSON());
      expect(restored.describe()).toBe(schedule.describe());
      expect(next(restored, 50)).toEqual(next(schedule, 50));
    },
  );

  it('stores readable JSON for each kind', () => {
    expect(schedules.map(([, s]) => s.toJSON())).toEqual([
      { kind: 'crontab', expr: '30 1 * * *', tz: 'Europe/London' },
      { kind: 'crontab', expr: '*/20 * * * * MON-FRI', tz: 'UTC' },
      { kind: 'crontab', expr: '0 9 1-7 * MON', tz: 'UTC', dayMatch: 'both' },
      { kind: 'interval', everyMs: 5_400_000 },
      { kind: 'interval', everyMs: 300_000, anchor: '2026-03-01T10:02:03.456Z' },
      { kind: 'clocked', at: '2026-03-29T01:30:00.000Z' },
      { kind: 'solar', event: 'dusk_nautical', latitude: -33.87, longitude: 151.21 },
    ]);
  });

  it('accepts hand-written JSON: tz defaults to UTC and instants may carry an offset', () => {
    expect(scheduleFromJson({ kind: 'crontab', expr: '0 8 * * *' }).toJSON()).toEqual({
      kind: 'crontab',
      expr: '0 8 * * *',
      tz: 'UTC',
    });
    expect(scheduleFromJson({ kind: 'clocked', at: '2026-03-29T02:30:00+01:00' }).toJSON()).toEqual(
      { kind: 'clocked', at: '2026-03-29T01:30:00.000Z' },
    );
  });
});

describe('scheduleFromJson refuses bad stored data, naming the field', () => {
  it.each([
    [null, 'schedule', /schedule JSON must be an object with a "kind", got null/],
    [[], 'schedule', /must be an object/],
    ['0 8 * * *', 'schedule', /must be an object/],
    [
      { kind: 'cron', expr: '0 8 * * *' },
      'kind',
      /schedule kind "cron" is unknown; use one of crontab, interval, clocked, solar/,
    ],
    [{ expr: '0 8 * * *' }, 'kind', /schedule kind undefined is unknown/],
    [
      { kind: 'crontab', expr: '0 8 * * *', timezone: 'Europe/London' },
      'timezone',
      /crontab schedule JSON has an unknown field "timezone"; its fields are kind, expr, tz, dayMatch/,
    ],
    [{ kind: 'crontab' }, 'expr', /crontab schedule JSON needs a string field "expr"/],
    [{ kind: 'crontab', expr: '61 * * * *' }, 'minute', /minute "61" is out of range/],
    [
      { kind: 'crontab', expr: '0 8 * * *', tz: 'Nowhere/City' },
      'tz',
      /time zone "Nowhere\/City" is not a known IANA zone name/,
    ],
    [{ kind: 'crontab', expr: '0 8 * * *', tz: 1 }, 'tz', /field "tz" must be a string, got 1/],
    [{ kind: 'interval', everyMs: '5m' }, 'everyMs', /field "everyMs" must be a number, got "5m"/],
    [{ kind: 'interval', everyMs: 0 }, 'everyMs', /everyMs 0 is not valid/],
    [
      { kind: 'interval', everyMs: 1000, anchor: '2026-03-01 10:00' },
      'anchor',
      /"anchor" must be an ISO 8601 instant with a zone/,
    ],
    [
      { kind: 'clocked', at: '2026-03-29T01:30:00' },
      'at',
      /"at" must be an ISO 8601 instant with a zone, like "2026-03-29T01:30:00Z", got "2026-03-29T01:30:00"/,
    ],
    [{ kind: 'clocked', at: '2026-02-30T01:30:00Z' }, 'at', /must be an ISO 8601 instant/],
    [
      { kind: 'solar', event: 'sunrise', latitude: 100, longitude: 0 },
      'latitude',
      /latitude 100 must be a number of degrees from -90 to 90/,
    ],
    [
      { kind: 'solar', event: 'moonrise', latitude: 0, longitude: 0 },
      'event',
      /solar event "moonrise" is unknown/,
    ],
  ])('refuses %j', (json, field, message) => {
    let error: unknown;
    try {
      scheduleFromJson(json);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidScheduleError);
    expect((error as InvalidScheduleError).field).toBe(field);
    expect((error as InvalidScheduleError).message).toMatch(message);
  });
});
