// The daylight-saving promises documented in src/beat/schedules/crontab.ts, checked against the
// runtime's zone database. Change days: Europe/London 2026-03-29, 2026-10-25, 2027-03-28,
// 2027-10-31 (at 01:00 UTC); America/New_York 2026-03-08, 2026-11-01, 2027-03-14, 2027-11-07.
import { describe, expect, it } from 'vitest';

import { crontab } from '../../../src/beat/schedules/index.js';
import { iso, local, runsBetween } from './local-time.js';

describe('crontab across a full year in Europe/London', () => {
  it('runs "0 8 * * *" at 08:00 local on each of the 365 days of 2026, switching UTC offset on both change days', () => {
    const runs = runsBetween(
      crontab('0 8 * * *', { tz: 'Europe/London' }),
      '2026-01-01T00:00:00Z',
      '2026-12-31T23:59:59Z',
    );
    expect(runs).toHaveLength(365);
    const day = new Date('2026-01-01T12:00:00Z');
    runs.forEach((run, i) => {
      const expectedDate = new Date(day.getTime() + i * 86_400_000).toISOString().slice(0, 10);
      const summer =
        run >= new Date('2026-03-29T01:00:00Z') && run < new Date('2026-10-25T01:00:00Z');
      expect(local(run, 'Europe/London')).toBe(
        `${expectedDate} 08:00:00 ${summer ? '+01:00' : '+00:00'}`,
      );
    });
    expect(
      iso(runs.filter((r) => ['2026-03-29', '2026-10-25'].includes(r.toISOString().slice(0, 10)))),
    ).toEqual(['2026-03-29T07:00:00.000Z', '2026-10-25T08:00:00.000Z']);
  });
});

describe('a fixed-time job in a skipped hour runs once, at the first valid instant after the gap', () => {
  it.each([
    ['2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['2027-03-27T12:00:00Z', '2027-03-28T01:00:00.000Z'],
  ])(
    '"30 1 * * *" in Europe/London from %s runs at 02:00 BST on the change day',
    (from, changeDayRun) => {
      const runs = runsBetween(
        crontab('30 1 * * *', { tz: 'Europe/London' }),
        from,
        new Date(new Date(from).getTime() + 3 * 86_400_000).toISOString(),
      );
      expect(runs.map((r) => local(r, 'Europe/London').slice(11))).toEqual([
        '02:00:00 +01:00',
        '01:30:00 +01:00',
        '01:30:00 +01:00',
      ]);
      expect(runs[0]?.toISOString()).toBe(changeDayRun);
    },
  );

  it.each([
    ['2026-03-07T12:00:00Z', '2026-03-08T07:00:00.000Z'],
    ['2027-03-13T12:00:00Z', '2027-03-14T07:00:00.000Z'],
  ])(
    '"30 2 * * *" in America/New_York from %s runs at 03:00 EDT on the change day',
    (from, changeDayRun) => {
      const runs = runsBetween(
        crontab('30 2 * * *', { tz: 'America/New_York' }),
        from,
        new Date(new Date(from).getTime() + 3 * 86_400_000).toISOString(),
      );
      expect(runs.map((r) => local(r, 'America/New_York').slice(11))).toEqual([
        '03:00:00 -04:00',
        '02:30:00 -04:00',
        '02:30:00 -04:00',
      ]);
      expect(runs[0]?.toISOString()).toBe(changeDayRun);
    },
  );

  it('runs several times that fall in one gap once, together ("15,45 1 * * *" on 2026-03-29 in London)', () => {
    const runs = runsBetween(
      crontab('15,45 1 * * *', { tz: 'Europe/London' }),
      '2026-03-29T00:00:00Z',
      '2026-03-29T23:59:59Z',
    );
    expect(iso(runs)).toEqual(['2026-03-29T01:00:00.000Z']);
  });

  it('does not run twice when a gap run meets a real run at the end of the gap ("0 1,2 * * *" in London)', () => {
    const runs = runsBetween(
      crontab('0 1,2 * * *', { tz: 'Europe/London' }),
      '2026-03-29T00:00:00Z',
      '2026-03-29T23:59:59Z',
    );
    expect(iso(runs)).toEqual(['2026-03-29T01:00:00.000Z']);
  });

  it('handles a gap at midnight (America/Santiago 2026-09-06: "0 0 * * *" runs at 01:00)', () => {
    const runs = runsBetween(
      crontab('0 0 * * *', { tz: 'America/Santiago' }),
      '2026-09-05T12:00:00Z',
      '2026-09-07T12:00:00Z',
    );
    expect(runs.map((r) => local(r, 'America/Santiago'))).toEqual([
      '2026-09-06 01:00:00 -03:00',
      '2026-09-07 00:00:00 -03:00',
    ]);
  });

  it('handles a 30-minute shift (Australia/Lord_Howe 2026-10-04: "15 2 * * *" runs at 02:30)', () => {
    const runs = runsBetween(
      crontab('15 2 * * *', { tz: 'Australia/Lord_Howe' }),
      '2026-10-03T00:00:00Z',
      '2026-10-04T23:59:59Z',
    );
    expect(runs.map((r) => local(r, 'Australia/Lord_Howe'))).toEqual([
      '2026-10-04 02:30:00 +11:00',
      '2026-10-05 02:15:00 +11:00',
    ]);
  });

  it('handles the southern hemisphere (Australia/Sydney 2026-10-04: "30 2 * * *" runs at 03:00 AEDT)', () => {
    const runs = runsBetween(
      crontab('30 2 * * *', { tz: 'Australia/Sydney' }),
      '2026-10-03T00:00:00Z',
      '2026-10-04T23:59:59Z',
    );
    expect(runs.map((r) => local(r, 'Australia/Sydney'))).toEqual([
      '2026-10-04 03:00:00 +11:00',
      '2026-10-05 02:30:00 +11:00',
    ]);
  });
});

describe('a fixed-time job in a repeated hour runs once, at the first occurrence', () => {
  it.each([
    ['2026-10-24T12:00:00Z', '2026-10-25T00:30:00.000Z'],
    ['2027-10-30T12:00:00Z', '2027-10-31T00:30:00.000Z'],
  ])(
    '"30 1 * * *" in Europe/London from %s runs at 01:30 BST only, not again at 01:30 GMT',
    (from, changeDayRun) => {
      const runs = runsBetween(
        crontab('30 1 * * *', { tz: 'Europe/London' }),
        from,
        new Date(new Date(from).getTime() + 3 * 86_400_000).toISOString(),
      );
      expect(runs.map((r) => local(r, 'Europe/London').slice(11))).toEqual([
        '01:30:00 +01:00',
        '01:30:00 +00:00',
        '01:30:00 +00:00',
      ]);
      expect(runs[0]?.toISOString()).toBe(changeDayRun);
    },
  );

  it.each([
    ['2026-10-31T12:00:00Z', '2026-11-01T05:30:00.000Z'],
    ['2027-11-06T12:00:00Z', '2027-11-07T05:30:00.000Z'],
  ])('"30 1 * * *" in America/New_York from %s runs at 01:30 EDT only', (from, changeDayRun) => {
    const runs = runsBetween(
      crontab('30 1 * * *', { tz: 'America/New_York' }),
      from,
      new Date(new Date(from).getTime() + 2 * 86_400_000).toISOString(),
    );
    expect(runs.map((r) => local(r, 'America/New_York').slice(11))).toEqual([
      '01:30:00 -04:00',
      '01:30:00 -05:00',
    ]);
    expect(runs[0]?.toISOString()).toBe(changeDayRun);
  });

  it.each([
    ['2026-10-31T12:00:00Z', '2026-11-01T07:30:00.000Z'],
    ['2027-11-06T12:00:00Z', '2027-11-07T07:30:00.000Z'],
  ])(
    '"30 2 * * *" in America/New_York from %s runs once at 02:30 EST on the fall-back day',
    (from, changeDayRun) => {
      const runs = runsBetween(
        crontab('30 2 * * *', { tz: 'America/New_York' }),
        from,
        new Date(new Date(from).getTime() + 2 * 86_400_000).toISOString(),
      );
      expect(runs.map((r) => local(r, 'America/New_York').slice(11))).toEqual([
        '02:30:00 -05:00',
        '02:30:00 -05:00',
      ]);
      expect(runs[0]?.toISOString()).toBe(changeDayRun);
    },
  );

  it('treats a list of explicit hours as fixed-time too ("30 1,13 * * *" runs twice that day, not three times)', () => {
    const runs = runsBetween(
      crontab('30 1,13 * * *', { tz: 'Europe/London' }),
      '2026-10-24T23:00:00Z',
      '2026-10-25T23:59:59Z',
    );
    expect(iso(runs)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T13:30:00.000Z']);
  });

  it('does not run the second occurrence when asked from inside the repeated hour (beat restarted at 01:10 GMT)', () => {
    const schedule = crontab('30 1 * * *', { tz: 'Europe/London' });
    expect(schedule.nextAfter(new Date('2026-10-25T01:10:00Z'))?.toISOString()).toBe(
      '2026-10-26T01:30:00.000Z',
    );
    expect(schedule.previousAtOrBefore(new Date('2026-10-25T01:45:00Z'))?.toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
  });
});

describe('an interval job follows real time through DST changes', () => {
  const halfHourly = crontab('*/30 * * * *', { tz: 'Europe/London' });

  it('runs on both passes of the repeated hour, every 30 real minutes (50 runs on 2026-10-25)', () => {
    const runs = runsBetween(halfHourly, '2026-10-24T22:59:59Z', '2026-10-25T23:59:59Z');
    expect(runs).toHaveLength(50);
    expect(
      runs.slice(1).every((r, i) => r.getTime() - (runs[i]?.getTime() ?? 0) === 30 * 60_000),
    ).toBe(true);
    expect(runs.slice(2, 6).map((r) => local(r, 'Europe/London').slice(11))).toEqual([
      '01:00:00 +01:00',
      '01:30:00 +01:00',
      '01:00:00 +00:00',
      '01:30:00 +00:00',
    ]);
  });

  it('skips the local times that do not exist, still every 30 real minutes (46 runs on 2026-03-29)', () => {
    const runs = runsBetween(halfHourly, '2026-03-28T23:59:59Z', '2026-03-29T22:59:59Z');
    expect(runs).toHaveLength(46);
    expect(
      runs.slice(1).every((r, i) => r.getTime() - (runs[i]?.getTime() ?? 0) === 30 * 60_000),
    ).toBe(true);
  });

  it('runs every second through both passes of the repeated hour and never in the skipped one ("* * 1 * * *")', () => {
    const everySecondAtOne = crontab('* * 1 * * *', { tz: 'Europe/London' });
    expect(
      runsBetween(everySecondAtOne, '2026-10-24T23:59:59Z', '2026-10-25T02:00:00Z'),
    ).toHaveLength(7200);
    expect(everySecondAtOne.nextAfter(new Date('2026-03-29T00:00:00Z'))?.toISOString()).toBe(
      '2026-03-30T00:00:00.000Z',
    );
  });
});

describe('previousAtOrBefore agrees with nextAfter around DST changes', () => {
  const cases: [string, string][] = [
    ['30 1 * * *', 'Europe/London'],
    ['*/20 1-2 * * *', 'Europe/London'],
    ['0 1,2 * * *', 'Europe/London'],
    ['30 2 * * *', 'America/New_York'],
    ['15 2 * * *', 'Australia/Lord_Howe'],
  ];
  const windows = [
    '2026-03-28T22:00:00Z',
    '2026-10-24T22:00:00Z',
    '2026-03-07T22:00:00Z',
    '2026-10-31T22:00:00Z',
    '2026-10-03T10:00:00Z',
  ];

  it.each(cases)(
    '"%s" in %s: every instant sees the run nextAfter would have produced',
    (expr, tz) => {
      const schedule = crontab(expr, { tz });
      let checked = 0;
      for (const start of windows) {
        for (
          let t = new Date(start).getTime();
          t < new Date(start).getTime() + 30 * 3_600_000;
          t += 7 * 60_000 + 13_000
        ) {
          const at = new Date(t);
          const previous = schedule.previousAtOrBefore(at);
          expect(previous).not.toBeNull();
          if (previous === null) continue;
          expect(previous.getTime()).toBeLessThanOrEqual(t);
          // It is a real run, and no run lies between it and `at`.
          expect(schedule.nextAfter(new Date(previous.getTime() - 1))?.toISOString()).toBe(
            previous.toISOString(),
          );
          expect(schedule.nextAfter(previous)?.getTime()).toBeGreaterThan(t);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(1000);
    },
  );
});
