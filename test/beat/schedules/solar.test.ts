// Reference values:
// - London, Houses of Parliament (51.5 N, 0.125 W), 2025-06-21: sunrise 04:42:38 BST, sunset
//   21:22:06 BST (news.najib.digital, "Summer Solstice London").
// - Tromsø (69.5 N, 19.0 E), 2014-04-01, US Naval Observatory "Sun and Moon Data for One Day",
//   UT+1: civil twilight begins 03:46, sunrise 04:50, transit 11:48, sunset 18:49, civil twilight
//   ends 19:53. Sun rises 2014-05-18 00:13 and sets next on 2014-07-25 23:20 (midnight sun).
// - Tromsø polar night: no sunrise from about 26 November to 15 January (Wikipedia).
// - Sydney (33.87 S, 151.21 E), 1 January and 1 July, AEDT/AEST: 05:48-20:10 and 07:02-16:57
//   (whattime.city/sydney/sun).
import { describe, expect, it } from 'vitest';

import {
  InvalidScheduleError,
  solar,
  SOLAR_EVENTS,
  type SolarEvent,
} from '../../../src/beat/schedules/index.js';

const MINUTE = 60_000;

function expectNear(actual: Date | null, expected: string, toleranceMinutes: number): void {
  expect(actual).not.toBeNull();
  const error = Math.abs((actual?.getTime() ?? 0) - Date.parse(expected)) / MINUTE;
  expect(error, `${actual?.toISOString()} vs ${expected}`).toBeLessThanOrEqual(toleranceMinutes);
}

describe('solar event times', () => {
  it('puts sunrise in London on 2026-06-21 at about 03:43 UTC', () => {
    expectNear(
      solar('sunrise', 51.5074, -0.1278).nextAfter(new Date('2026-06-21T00:00:00Z')),
      '2026-06-21T03:43:00Z',
      2,
    );
  });

  it('matches a published London sunrise and sunset (2025-06-21) within a minute', () => {
    expectNear(
      solar('sunrise', 51.5, -0.125).nextAfter(new Date('2025-06-21T00:00:00Z')),
      '2025-06-21T03:42:38Z',
      1,
    );
    expectNear(
      solar('sunset', 51.5, -0.125).nextAfter(new Date('2025-06-21T12:00:00Z')),
      '2025-06-21T20:22:06Z',
      1,
    );
  });

  it.each<[SolarEvent, string]>([
    ['dawn_civil', '2014-04-01T02:46:00Z'],
    ['sunrise', '2014-04-01T03:50:00Z'],
    ['solar_noon', '2014-04-01T10:48:00Z'],
    ['sunset', '2014-04-01T17:49:00Z'],
    ['dusk_civil', '2014-04-01T18:53:00Z'],
  ])(
    'matches the US Naval Observatory for %s in Tromsø on 2014-04-01 within a minute',
    (event, expected) => {
      expectNear(solar(event, 69.5, 19.0).nextAfter(new Date('2014-04-01T00:00:00Z')), expected, 1);
    },
  );

  it.each<[SolarEvent, string, string]>([
    ['sunrise', '2025-12-31T12:00:00Z', '2025-12-31T18:48:00Z'],
    ['sunset', '2026-01-01T00:00:00Z', '2026-01-01T09:10:00Z'],
    ['sunrise', '2026-06-30T12:00:00Z', '2026-06-30T21:02:00Z'],
    ['sunset', '2026-07-01T00:00:00Z', '2026-07-01T06:57:00Z'],
  ])(
    'matches published Sydney %s times in summer and winter (southern hemisphere), within 2 minutes',
    (event, from, expected) => {
      expectNear(solar(event, -33.87, 151.21).nextAfter(new Date(from)), expected, 2);
    },
  );

  it('orders the day: astronomical, nautical, civil dawn, sunrise, noon, sunset, civil, nautical, astronomical dusk', () => {
    // 02:00 in New York, after the previous evening's dusks.
    const from = new Date('2026-03-20T06:00:00Z');
    const order: SolarEvent[] = [
      'dawn_astronomical',
      'dawn_nautical',
      'dawn_civil',
      'sunrise',
      'solar_noon',
      'sunset',
      'dusk_civil',
      'dusk_nautical',
      'dusk_astronomical',
    ];
    const times = order.map(
      (event) => solar(event, 40.7128, -74.006).nextAfter(from)?.getTime() ?? 0,
    );
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // Solar noon is midway between sunrise and sunset.
    expect(Math.abs((times[3]! + times[5]!) / 2 - times[4]!)).toBeLessThan(MINUTE);
  });
});

describe('solar at high latitudes', () => {
  it('skips the days of the midnight sun: after 2014-05-18 Tromsø has no sunset until 2014-07-25', () => {
    expectNear(
      solar('sunset', 69.5, 19.0).nextAfter(new Date('2014-05-20T00:00:00Z')),
      '2014-07-25T22:20:00Z',
      3,
    );
    expectNear(
      solar('sunrise', 69.5, 19.0).nextAfter(new Date('2014-05-17T12:00:00Z')),
      '2014-05-17T23:13:00Z',
      2,
    );
  });

  it('skips the days of the polar night: after 1 December Tromsø next sees sunrise in mid January', () => {
    const next = solar('sunrise', 69.65, 18.96).nextAfter(new Date('2025-12-01T00:00:00Z'));
    expect(next?.toISOString().slice(0, 10)).toMatch(/^2026-01-1[3-7]$/);
  });

  it('skips London summer nights too bright for astronomical dusk (late May to late July)', () => {
    const next = solar('dusk_astronomical', 51.5074, -0.1278).nextAfter(
      new Date('2026-06-01T00:00:00Z'),
    );
    expect(next?.toISOString().slice(0, 10)).toMatch(/^2026-07-(1[7-9]|2[0-6])$/);
  });

  it('returns null for an event that never happens (sunrise at the North Pole in this model), but still has solar noon there', () => {
    expect(solar('sunrise', 90, 0).nextAfter(new Date('2026-01-01T00:00:00Z'))).toBeNull();
    expect(solar('sunrise', 90, 0).previousAtOrBefore(new Date('2026-01-01T00:00:00Z'))).toBeNull();
    expect(solar('solar_noon', 90, 0).nextAfter(new Date('2026-01-01T00:00:00Z'))).not.toBeNull();
  });
});

describe('solar consistency', () => {
  it.each<[SolarEvent, number, number]>([
    ['sunrise', 51.5074, -0.1278],
    ['dusk_nautical', -33.87, 151.21],
    ['sunset', 69.65, 18.96],
    ['solar_noon', 0, 179.9],
    ['dawn_civil', 35.68, 139.69],
  ])(
    '%s at (%d, %d): one event per day at most, and previousAtOrBefore agrees with nextAfter over two years',
    (event, lat, lon) => {
      const schedule = solar(event, lat, lon);
      let cursor: Date | null = new Date('2026-01-01T00:00:00Z');
      let count = 0;
      while (cursor !== null && cursor < new Date('2028-01-01T00:00:00Z')) {
        const next: Date | null = schedule.nextAfter(cursor);
        if (next === null) break;
        if (count > 0) expect(next.getTime() - cursor.getTime()).toBeGreaterThan(20 * 3_600_000);
        expect(schedule.previousAtOrBefore(next)?.toISOString()).toBe(next.toISOString());
        expect(
          schedule.previousAtOrBefore(new Date(next.getTime() - 1))?.getTime() ?? 0,
        ).toBeLessThan(next.getTime());
        cursor = next;
        count++;
      }
      expect(count).toBeGreaterThan(300);
    },
  );
});

describe('solar validation', () => {
  it.each([
    [['noon', 0, 0], 'event', /solar event "noon" is unknown; use one of .*sunrise, .*solar_noon/],
    [['sunrise', 90.5, 0], 'latitude', /latitude 90.5 must be a number of degrees from -90 to 90/],
    [['sunrise', -91, 0], 'latitude', /latitude -91 must be/],
    [
      ['sunrise', 0, 180.01],
      'longitude',
      /longitude 180.01 must be a number of degrees from -180 to 180/,
    ],
    [['sunrise', Number.NaN, 0], 'latitude', /latitude null must be/],
    [['sunrise', '51.5', 0], 'latitude', /latitude "51.5" must be/],
  ])('refuses %j, naming %s', (args, field, message) => {
    const [event, lat, lon] = args as [SolarEvent, number, number];
    expect(() => solar(event, lat, lon)).toThrow(InvalidScheduleError);
    expect(() => solar(event, lat, lon)).toThrow(message);
    try {
      solar(event, lat, lon);
    } catch (e) {
      expect((e as InvalidScheduleError).field).toBe(field);
    }
  });

  it("offers Celery's nine events", () => {
    expect([...SOLAR_EVENTS].sort()).toEqual([
      'dawn_astronomical',
      'dawn_civil',
      'dawn_nautical',
      'dusk_astronomical',
      'dusk_civil',
      'dusk_nautical',
      'solar_noon',
      'sunrise',
      'sunset',
    ]);
  });
});
