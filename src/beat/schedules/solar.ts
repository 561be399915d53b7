/**
 * Solar schedules, as Celery's `solar(event, lat, lon)`: run at sunrise, sunset, solar noon or a
 * dawn or dusk twilight at a place. Times come from the NOAA equations in sun-position.ts
 * (within about a minute of published almanacs at inhabited latitudes). On days where the event
 * does not happen (polar day or polar night, or a summer too bright for astronomical dusk) the
 * day is skipped; if it does not happen at all in the next year, `nextAfter` returns null.
 * Must never read the clock or depend on a time zone: events are absolute instants.
 */

import { InvalidScheduleError, assertValidDate, quote } from './errors.js';
import type { Schedule, SolarEvent, SolarJson } from './schedule.js';
import { SUN_DAY_MS, sunEventOnDay, type SunCrossing } from './sun-position.js';

/** Zenith angle in degrees and which crossing, per event; the horizons are Celery's. */
const EVENTS: Readonly<Record<SolarEvent, { zenith: number; crossing: SunCrossing }>> = {
  dawn_astronomical: { zenith: 108, crossing: -1 },
  dawn_nautical: { zenith: 102, crossing: -1 },
  dawn_civil: { zenith: 96, crossing: -1 },
  sunrise: { zenith: 90 + 50 / 60, crossing: -1 },
  solar_noon: { zenith: 90, crossing: 0 },
  sunset: { zenith: 90 + 50 / 60, crossing: 1 },
  dusk_civil: { zenith: 96, crossing: 1 },
  dusk_nautical: { zenith: 102, crossing: 1 },
  dusk_astronomical: { zenith: 108, crossing: 1 },
};

export const SOLAR_EVENTS = Object.keys(EVENTS) as readonly SolarEvent[];

// An event that happens at all at a latitude happens at least once a year, so a search this long
// either finds it or proves it never comes (e.g. sunrise exactly at a pole).
const SEARCH_DAYS = 370;

/**
 * Builds a solar schedule.
 * @param event one of Celery's events: `sunrise`, `sunset`, `solar_noon`, `dawn_civil`,
 *   `dawn_nautical`, `dawn_astronomical`, `dusk_civil`, `dusk_nautical`, `dusk_astronomical`
 * @param latitude degrees, -90 (south) to 90 (north)
 * @param longitude degrees, -180 (west) to 180 (east)
 * @throws InvalidScheduleError for an unknown event or a coordinate out of range
 * @example solar('sunset', 51.5074, -0.1278) // London
 */
export function solar(event: SolarEvent, latitude: number, longitude: number): SolarSchedule {
  return new SolarSchedule(event, latitude, longitude);
}

export class SolarSchedule implements Schedule {
  readonly kind = 'solar' as const;

  constructor(
    readonly event: SolarEvent,
    readonly latitude: number,
    readonly longitude: number,
  ) {
    if (typeof event !== 'string' || !Object.hasOwn(EVENTS, event)) {
      throw new InvalidScheduleError(
        'event',
        event,
        `solar event ${quote(event)} is unknown; use one of ${SOLAR_EVENTS.join(', ')}.`,
      );
    }
    checkDegrees('latitude', latitude, 90);
    checkDegrees('longitude', longitude, 180);
  }

  nextAfter(after: Date): Date | null {
    assertValidDate(after, 'after');
    const t = after.getTime();
    // Each day's event lies within a day and a half of that UTC day's start, and events of
    // successive days are in order, so scanning forward from two days back finds the next one.
    const first = Math.floor(t / SUN_DAY_MS) - 2;
    for (let day = first; day <= first + SEARCH_DAYS; day++) {
      const at = this.onDay(day);
      if (at !== null && at > t) return new Date(at);
    }
    return null;
  }

  previousAtOrBefore(at: Date): Date | null {
    assertValidDate(at, 'at');
    const t = at.getTime();
    const last = Math.floor(t / SUN_DAY_MS) + 2;
    for (let day = last; day >= last - SEARCH_DAYS; day--) {
      const when = this.onDay(day);
      if (when !== null && when <= t) return new Date(when);
    }
    return null;
  }

  describe(): string {
    return `solar ${this.event} at latitude ${this.latitude}, longitude ${this.longitude}`;
  }

  toJSON(): SolarJson {
    return { kind: 'solar', event: this.event, latitude: this.latitude, longitude: this.longitude };
  }

  private onDay(day: number): number | null {
    const { zenith, crossing } = EVENTS[this.event];
    return sunEventOnDay(day * SUN_DAY_MS, this.latitude, this.longitude, zenith, crossing);
  }
}

function checkDegrees(field: 'latitude' | 'longitude', value: unknown, limit: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < -limit || value > limit) {
    throw new InvalidScheduleError(
      field,
      value,
      `solar ${field} ${quote(value)} must be a number of degrees from -${limit} to ${limit}.`,
    );
  }
}
