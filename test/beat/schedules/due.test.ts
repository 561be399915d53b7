import { describe, expect, it } from 'vitest';

import {
  clocked,
  crontab,
  dueRuns,
  every,
  type DueRunsInput,
} from '../../../src/beat/schedules/index.js';

const daily = crontab('0 8 * * *', { tz: 'Europe/London' }); // 07:00 UTC in summer
const base = {
  schedule: daily,
  missedRunPolicy: 'catch-up-once',
  createdAt: new Date('2026-01-01T00:00:00Z'),
} satisfies Partial<DueRunsInput>;

const at = (s: string) => new Date(s);
const decide = (input: Partial<DueRunsInput> & Pick<DueRunsInput, 'lastRunAt' | 'now'>) => {
  const d = dueRuns({ ...base, ...input });
  return {
    runNow: d.runNow,
    scheduledFor: d.scheduledFor?.toISOString() ?? null,
    nextRunAt: d.nextRunAt?.toISOString() ?? null,
  };
};

describe('dueRuns on time', () => {
  it('does not run before the next slot and says when it is', () => {
    expect(
      decide({ lastRunAt: at('2026-06-01T07:00:00Z'), now: at('2026-06-02T06:59:59.999Z') }),
    ).toEqual({
      runNow: false,
      scheduledFor: null,
      nextRunAt: '2026-06-02T07:00:00.000Z',
    });
  });

  it('runs a slot seen a little late, for that slot, and gives the following one', () => {
    expect(
      decide({ lastRunAt: at('2026-06-01T07:00:00Z'), now: at('2026-06-02T07:00:00.300Z') }),
    ).toEqual({
      runNow: true,
      scheduledFor: '2026-06-02T07:00:00.000Z',
      nextRunAt: '2026-06-03T07:00:00.000Z',
    });
  });

  it('does not run the same slot again once it is recorded as the last run', () => {
    expect(
      decide({ lastRunAt: at('2026-06-02T07:00:00Z'), now: at('2026-06-02T07:00:00.900Z') }).runNow,
    ).toBe(false);
  });

  it('runs a slot within the grace period under "skip" too: it is late, not missed', () => {
    expect(
      decide({
        lastRunAt: at('2026-06-01T07:00:00Z'),
        now: at('2026-06-02T07:00:45Z'),
        missedRunPolicy: 'skip',
      }),
    ).toMatchObject({
      runNow: true,
      scheduledFor: '2026-06-02T07:00:00.000Z',
    });
  });
});

describe('dueRuns after downtime', () => {
  const threeDaysDown = { lastRunAt: at('2026-06-01T07:00:00Z'), now: at('2026-06-04T09:30:00Z') };

  it('catches up once, for the most recent missed slot only, never a burst', () => {
    const first = decide({ ...threeDaysDown });
    expect(first).toEqual({
      runNow: true,
      scheduledFor: '2026-06-04T07:00:00.000Z',
      nextRunAt: '2026-06-05T07:00:00.000Z',
    });
    // Beat records the run; the next tick a second later has nothing to do.
    expect(
      decide({ lastRunAt: at(first.scheduledFor ?? ''), now: at('2026-06-04T09:30:01Z') }).runNow,
    ).toBe(false);
  });

  it('skips every missed slot and waits for the next future one under "skip"', () => {
    expect(decide({ ...threeDaysDown, missedRunPolicy: 'skip' })).toEqual({
      runNow: false,
      scheduledFor: null,
      nextRunAt: '2026-06-05T07:00:00.000Z',
    });
    // It keeps skipping on later ticks without a recorded run, then runs the next slot on time.
    expect(
      decide({ ...threeDaysDown, now: at('2026-06-04T20:00:00Z'), missedRunPolicy: 'skip' }).runNow,
    ).toBe(false);
    expect(
      decide({ ...threeDaysDown, now: at('2026-06-05T07:00:00.200Z'), missedRunPolicy: 'skip' }),
    ).toMatchObject({
      runNow: true,
      scheduledFor: '2026-06-05T07:00:00.000Z',
    });
  });

  it('catches up an interval once, on its own grid, after a restart', () => {
    const schedule = every('5m', { anchor: at('2026-06-01T10:02:00Z') });
    expect(
      decide({ schedule, lastRunAt: at('2026-06-01T10:07:00Z'), now: at('2026-06-01T10:33:30Z') }),
    ).toEqual({
      runNow: true,
      scheduledFor: '2026-06-01T10:32:00.000Z',
      nextRunAt: '2026-06-01T10:37:00.000Z',
    });
  });
});

describe('dueRuns and creation time', () => {
  it('does not run a slot from before the schedule was created', () => {
    expect(
      decide({
        lastRunAt: null,
        createdAt: at('2026-06-02T10:00:00Z'),
        now: at('2026-06-02T10:00:01Z'),
      }),
    ).toEqual({
      runNow: false,
      scheduledFor: null,
      nextRunAt: '2026-06-03T07:00:00.000Z',
    });
  });

  it('runs a slot at exactly the creation time', () => {
    expect(
      decide({
        lastRunAt: null,
        createdAt: at('2026-06-02T07:00:00Z'),
        now: at('2026-06-02T07:00:00.500Z'),
      }),
    ).toMatchObject({
      runNow: true,
      scheduledFor: '2026-06-02T07:00:00.000Z',
    });
  });

  it('does not catch up slots older than an edit, even with an older last run', () => {
    expect(
      decide({
        lastRunAt: at('2026-05-01T07:00:00Z'),
        createdAt: at('2026-06-02T10:00:00Z'),
        now: at('2026-06-02T10:05:00Z'),
      }).runNow,
    ).toBe(false);
  });

  it("never runs when the last run is ahead of this replica's clock", () => {
    expect(
      decide({ lastRunAt: at('2026-06-02T07:00:00Z'), now: at('2026-06-02T06:59:58Z') }),
    ).toEqual({
      runNow: false,
      scheduledFor: null,
      nextRunAt: '2026-06-03T07:00:00.000Z',
    });
  });
});

describe('dueRuns for a one-off run', () => {
  const schedule = clocked(at('2026-06-02T12:00:00Z'));

  it('runs it once, then reports no further run', () => {
    expect(decide({ schedule, lastRunAt: null, now: at('2026-06-02T12:00:00.100Z') })).toEqual({
      runNow: true,
      scheduledFor: '2026-06-02T12:00:00.000Z',
      nextRunAt: null,
    });
    expect(
      decide({ schedule, lastRunAt: at('2026-06-02T12:00:00Z'), now: at('2026-06-03T00:00:00Z') }),
    ).toEqual({ runNow: false, scheduledFor: null, nextRunAt: null });
  });

  it('runs it late after downtime with "catch-up-once", and drops it with "skip"', () => {
    expect(decide({ schedule, lastRunAt: null, now: at('2026-06-02T15:00:00Z') }).runNow).toBe(
      true,
    );
    expect(
      decide({
        schedule,
        lastRunAt: null,
        now: at('2026-06-02T15:00:00Z'),
        missedRunPolicy: 'skip',
      }),
    ).toEqual({ runNow: false, scheduledFor: null, nextRunAt: null });
  });
});

describe('dueRuns across replicas', () => {
  it('gives every replica evaluating the same tick the same scheduledFor, whatever their last-run view', () => {
    const views = [
      { lastRunAt: at('2026-06-01T07:00:00Z'), now: at('2026-06-04T09:30:00.000Z') },
      { lastRunAt: at('2026-06-01T07:00:00Z'), now: at('2026-06-04T09:30:02.750Z') },
      { lastRunAt: at('2026-05-20T07:00:00Z'), now: at('2026-06-04T09:29:58.100Z') },
    ];
    const keys = new Set(views.map((v) => decide(v).scheduledFor));
    expect([...keys]).toEqual(['2026-06-04T07:00:00.000Z']);
  });
});

describe('dueRuns input checks', () => {
  it('refuses invalid dates, an unknown policy and a negative grace', () => {
    expect(() => decide({ lastRunAt: null, now: new Date(Number.NaN) })).toThrow(
      /now must be a valid Date/,
    );
    expect(() =>
      decide({ lastRunAt: new Date(Number.NaN), now: at('2026-06-01T00:00:00Z') }),
    ).toThrow(/lastRunAt must be a valid Date/);
    expect(() =>
      decide({ lastRunAt: null, now: at('2026-06-01T00:00:00Z'), missedRunPolicy: 'all' as never }),
    ).toThrow(/missedRunPolicy "all" is not valid; use "catch-up-once" or "skip"/);
    expect(() => decide({ lastRunAt: null, now: at('2026-06-01T00:00:00Z'), graceMs: -1 })).toThrow(
      /graceMs -1 must be/,
    );
  });
});
