// Years of beat ticks in milliseconds: a simulated beat loop with an injected clock sleeps until
// the next run (waking up to 0.9 s late), is down during random windows from 30 s to 3 days, and
// records each run it sends. The properties below are the promises of due.ts.
import { describe, expect, it } from 'vitest';

import {
  crontab,
  dueRuns,
  every,
  solar,
  type MissedRunPolicy,
  type Schedule,
} from '../../../src/beat/schedules/index.js';
import { local } from './local-time.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GRACE = 60_000;

/** Small seeded PRNG (mulberry32) so every run of the suite simulates the same history. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Downtime {
  from: number;
  to: number;
}
interface Run {
  slot: number;
  sentAt: number;
}

function downtimes(start: number, end: number, rng: () => number): Downtime[] {
  const lengths = [30_000, 10 * 60_000, 5 * HOUR, 3 * DAY];
  const out: Downtime[] = [];
  for (let from = start + rng() * 10 * DAY; from < end;) {
    const to = Math.round(
      from + (lengths[Math.floor(rng() * lengths.length)] ?? HOUR) * (0.5 + rng()),
    );
    out.push({ from: Math.round(from), to });
    from = to + HOUR + rng() * 20 * DAY;
  }
  return out;
}

function simulate(
  schedule: Schedule,
  policy: MissedRunPolicy,
  start: number,
  end: number,
  down: readonly Downtime[],
  rng: () => number,
) {
  const runs: Run[] = [];
  let lastRunAt: Date | null = null;
  let ticks = 0;
  for (let t = start; t < end;) {
    const outage = down.find((d) => t >= d.from && t < d.to);
    if (outage !== undefined) {
      t = outage.to;
      continue;
    }
    const decision = dueRuns({
      schedule,
      lastRunAt,
      now: new Date(t),
      missedRunPolicy: policy,
      createdAt: new Date(start),
      graceMs: GRACE,
    });
    ticks++;
    if (decision.runNow && decision.scheduledFor !== null) {
      runs.push({ slot: decision.scheduledFor.getTime(), sentAt: t });
      lastRunAt = decision.scheduledFor;
    }
    // Beat sleeps until the next run but re-reads its schedules at least hourly.
    const wake =
      decision.nextRunAt === null ? end : Math.min(decision.nextRunAt.getTime(), t + HOUR);
    t = Math.max(wake, t + 1) + Math.floor(rng() * 900);
  }
  return { runs, ticks };
}

function slotsBetween(schedule: Schedule, start: number, end: number): number[] {
  const slots: number[] = [];
  for (
    let s = schedule.nextAfter(new Date(start - 1));
    s !== null && s.getTime() < end;
    s = schedule.nextAfter(s)
  )
    slots.push(s.getTime());
  return slots;
}

function checkPromises(
  schedule: Schedule,
  policy: MissedRunPolicy,
  start: number,
  end: number,
  seed: number,
) {
  const rng = random(seed);
  const down = downtimes(start, end, rng);
  const { runs, ticks } = simulate(schedule, policy, start, end, down, rng);
  const slots = slotsBetween(schedule, start, end);
  const slotSet = new Set(slots);

  // Violations are collected and compared once: tens of thousands of expect() calls would cost
  // more than the simulation itself.
  const problems: string[] = [];
  const at = (ms: number) => new Date(ms).toISOString();

  // Each run is for a real slot, sent at or after it, and no slot is ever sent twice.
  runs.forEach((run, i) => {
    if (!slotSet.has(run.slot)) problems.push(`run for ${at(run.slot)}, which is not a slot`);
    if (run.sentAt < run.slot)
      problems.push(`run for ${at(run.slot)} sent early, at ${at(run.sentAt)}`);
    if (i > 0 && run.slot <= (runs[i - 1]?.slot ?? 0))
      problems.push(`run for ${at(run.slot)} sent again or out of order`);
  });

  // Every slot while beat is up runs, on time.
  const ran = new Map(runs.map((r) => [r.slot, r.sentAt]));
  const covered = (s: number) => down.some((d) => d.from <= s + GRACE && d.to >= s - 2000);
  let onTime = 0;
  for (const slot of slots) {
    if (covered(slot) || slot > end - GRACE) continue;
    const sentAt = ran.get(slot);
    if (sentAt === undefined) problems.push(`slot ${at(slot)} did not run while beat was up`);
    else if (sentAt - slot > GRACE) problems.push(`slot ${at(slot)} ran late, at ${at(sentAt)}`);
    onTime++;
  }

  const late = runs.filter((r) => r.sentAt - r.slot > GRACE);
  if (policy === 'skip') {
    for (const run of late)
      problems.push(`"skip" sent a missed slot ${at(run.slot)} at ${at(run.sentAt)}`);
    expect(runs.length).toBeLessThan(slots.length);
  } else {
    // A late run is the one catch-up run at the first tick after an outage, for the latest slot.
    for (const run of late) {
      if (!down.some((d) => d.to === run.sentAt))
        problems.push(`late run ${at(run.slot)} not at the end of an outage`);
      if (schedule.previousAtOrBefore(new Date(run.sentAt))?.getTime() !== run.slot)
        problems.push(`catch-up for ${at(run.slot)} is not the latest slot`);
    }
    // Every outage that swallowed a slot ends with exactly one catch-up run.
    for (const outage of down) {
      const missed = slots.some((s) => s >= outage.from && s < outage.to - GRACE);
      const sent = runs.filter((r) => r.sentAt === outage.to).length;
      if (missed && outage.to < end && sent !== 1)
        problems.push(`outage ending ${at(outage.to)} sent ${sent} catch-up runs`);
    }
    expect(late.length).toBeGreaterThan(0);
  }
  expect(problems).toEqual([]);
  expect(onTime).toBeGreaterThan(slots.length / 2);
  return { runs, ticks, slots, down };
}

const start2026 = Date.parse('2026-01-01T00:00:00Z');

describe('simulated beat over years of ticks', () => {
  it.each<MissedRunPolicy>(['catch-up-once', 'skip'])(
    '"0 8 * * *" in Europe/London for three years, %s: every run at 08:00 local, none twice',
    (policy) => {
      const schedule = crontab('0 8 * * *', { tz: 'Europe/London' });
      const { runs, slots } = checkPromises(
        schedule,
        policy,
        start2026,
        Date.parse('2029-01-01T00:00:00Z'),
        1,
      );
      expect(slots).toHaveLength(365 * 3 + 1); // 2028 is a leap year
      expect(
        runs.every((r) => local(new Date(r.slot), 'Europe/London').slice(11, 19) === '08:00:00'),
      ).toBe(true);
    },
  );

  it.each<MissedRunPolicy>(['catch-up-once', 'skip'])(
    '"30 1 * * *" in Europe/London over four years of DST changes, %s: at most one run per local day',
    (policy) => {
      const schedule = crontab('30 1 * * *', { tz: 'Europe/London' });
      const { runs } = checkPromises(
        schedule,
        policy,
        start2026,
        Date.parse('2030-01-01T00:00:00Z'),
        2,
      );
      const perDay = new Map<string, number>();
      for (const r of runs) {
        const day = local(new Date(r.slot), 'Europe/London').slice(0, 10);
        perDay.set(day, (perDay.get(day) ?? 0) + 1);
      }
      expect([...perDay.values()].every((n) => n === 1)).toBe(true);
    },
  );

  it.each<MissedRunPolicy>(['catch-up-once', 'skip'])('every("15m") for a year, %s', (policy) => {
    const { slots, ticks } = checkPromises(
      every('15m'),
      policy,
      start2026,
      Date.parse('2027-01-01T00:00:00Z'),
      3,
    );
    expect(slots).toHaveLength(365 * 96);
    expect(ticks).toBeLessThan(slots.length * 1.1);
  });

  it('"*/10 * * * *" in America/New_York through the November change, catch-up-once', () => {
    checkPromises(
      crontab('*/10 * * * *', { tz: 'America/New_York' }),
      'catch-up-once',
      Date.parse('2026-10-20T00:00:00Z'),
      Date.parse('2026-11-20T00:00:00Z'),
      4,
    );
  });

  it.each<MissedRunPolicy>(['catch-up-once', 'skip'])(
    'sunset in Tromsø for two years (with the midnight sun), %s',
    (policy) => {
      checkPromises(
        solar('sunset', 69.65, 18.96),
        policy,
        start2026,
        Date.parse('2028-01-01T00:00:00Z'),
        5,
      );
    },
  );
});
