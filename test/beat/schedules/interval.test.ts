import { describe, expect, it } from 'vitest';

import { every, InvalidScheduleError } from '../../../src/beat/schedules/index.js';
import { iso, runsBetween } from './local-time.js';

describe('every', () => {
  it('aligns to the Unix epoch without an anchor, so every 5m runs at :00, :05, ... UTC', () => {
    const schedule = every('5m');
    expect(schedule.nextAfter(new Date('2026-05-01T10:02:30Z'))?.toISOString()).toBe(
      '2026-05-01T10:05:00.000Z',
    );
    expect(schedule.nextAfter(new Date('2026-05-01T10:05:00Z'))?.toISOString()).toBe(
      '2026-05-01T10:10:00.000Z',
    );
    expect(schedule.previousAtOrBefore(new Date('2026-05-01T10:05:00Z'))?.toISOString()).toBe(
      '2026-05-01T10:05:00.000Z',
    );
    expect(schedule.previousAtOrBefore(new Date('2026-05-01T10:04:59.999Z'))?.toISOString()).toBe(
      '2026-05-01T10:00:00.000Z',
    );
  });

  it('starts at the anchor and stays on its grid', () => {
    const schedule = every('5m', { anchor: new Date('2026-05-01T10:02:00Z') });
    expect(schedule.nextAfter(new Date('2026-05-01T09:00:00Z'))?.toISOString()).toBe(
      '2026-05-01T10:02:00.000Z',
    );
    expect(schedule.nextAfter(new Date('2026-05-01T10:02:00Z'))?.toISOString()).toBe(
      '2026-05-01T10:07:00.000Z',
    );
    expect(schedule.previousAtOrBefore(new Date('2026-05-01T10:13:30Z'))?.toISOString()).toBe(
      '2026-05-01T10:12:00.000Z',
    );
    expect(schedule.previousAtOrBefore(new Date('2026-05-01T10:01:59Z'))).toBeNull();
    expect(iso(runsBetween(schedule, '2026-05-01T10:00:00Z', '2026-05-01T10:20:00Z'))).toEqual([
      '2026-05-01T10:02:00.000Z',
      '2026-05-01T10:07:00.000Z',
      '2026-05-01T10:12:00.000Z',
      '2026-05-01T10:17:00.000Z',
    ]);
  });

  it('does not drift when beat runs late or restarts: the next run is computed from the grid, not from the late run', () => {
    const anchor = new Date('2026-01-01T00:00:07Z');
    const schedule = every('1m', { anchor });
    let lateRunAt = new Date('2026-01-01T00:00:07Z');
    for (let i = 0; i < 10_000; i++) {
      const next = schedule.nextAfter(lateRunAt);
      expect(next).not.toBeNull();
      if (next === null) break;
      expect((next.getTime() - anchor.getTime()) % 60_000).toBe(0);
      // Beat wakes up to 59.9 s late, or sleeps through whole runs after a restart.
      lateRunAt = new Date(next.getTime() + ((i * 7919) % 59_900) + (i % 97 === 0 ? 3_600_000 : 0));
    }
  });

  it('counts real elapsed time, so every 1d keeps 24 hours across a DST change', () => {
    const schedule = every('1d', { anchor: new Date('2026-03-28T07:00:00Z') });
    expect(schedule.nextAfter(new Date('2026-03-28T07:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T07:00:00.000Z',
    );
  });

  it('accepts a number of milliseconds and describes itself in duration units', () => {
    expect(every(5_400_000).describe()).toBe('every 1h30m');
    expect(every('90s', { anchor: new Date('2026-01-01T00:00:00Z') }).describe()).toBe(
      'every 1m30s from 2026-01-01T00:00:00.000Z',
    );
  });

  it.each([
    [0, 'every', /greater than zero/],
    [-5, 'every', /greater than zero/],
    [1.5, 'every', /whole number of milliseconds/],
    [Number.NaN, 'every', /is not valid/],
    ['5 minutes', 'every', /"5 minutes" is not valid/],
    ['1.5h', 'every', /"1.5h" is not valid/],
    ['30m1h', 'every', /largest first/],
    ['5000', 'every', /add a unit/],
    ['0s', 'every', /greater than zero/],
  ])('refuses the period %j, naming it', (period, field, message) => {
    expect(() => every(period)).toThrow(InvalidScheduleError);
    expect(() => every(period)).toThrow(message);
    try {
      every(period);
    } catch (e) {
      expect((e as InvalidScheduleError).field).toBe(field);
    }
  });

  it('refuses an invalid anchor', () => {
    expect(() => every('5m', { anchor: new Date('nope') })).toThrow(
      /interval anchor must be a valid Date, got Invalid Date/,
    );
  });
});
