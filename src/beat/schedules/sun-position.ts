/**
 * The NOAA solar-position equations (the NOAA Global Monitoring Laboratory's sunrise/sunset
 * spreadsheet, after Jean Meeus, "Astronomical Algorithms"): the sun's declination and the
 * equation of time at an instant, and from them the UTC instant of solar noon or of the sun
 * crossing a given zenith angle on one day. Accurate to about a minute between latitudes ±72°,
 * less near the poles. Angles are degrees at the boundaries of this file, radians inside.
 * Pure maths: must never read the clock or know about schedules.
 */

const DAY_MS = 86_400_000;
const RAD = Math.PI / 180;

/** Julian centuries since J2000.0 for a Unix time in ms. */
function julianCentury(ms: number): number {
  const julianDay = ms / DAY_MS + 2_440_587.5;
  return (julianDay - 2_451_545) / 36_525;
}

interface SunState {
  /** Declination, radians. */
  readonly declination: number;
  /** Equation of time, minutes (apparent minus mean solar time). */
  readonly equationOfTime: number;
}

export function sunState(ms: number): SunState {
  const t = julianCentury(ms);
  const meanLongitude = (((280.46646 + t * (36_000.76983 + t * 0.0003032)) % 360) + 360) % 360;
  const meanAnomaly = 357.52911 + t * (35_999.05029 - 0.0001537 * t);
  const eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t);
  const m = meanAnomaly * RAD;
  const equationOfCentre =
    Math.sin(m) * (1.914602 - t * (0.004817 + 0.000014 * t)) +
    Math.sin(2 * m) * (0.019993 - 0.000101 * t) +
    Math.sin(3 * m) * 0.000289;
  const trueLongitude = meanLongitude + equationOfCentre;
  const omega = (125.04 - 1934.136 * t) * RAD;
  const apparentLongitude = (trueLongitude - 0.00569 - 0.00478 * Math.sin(omega)) * RAD;
  const meanObliquity =
    23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60;
  const obliquity = (meanObliquity + 0.00256 * Math.cos(omega)) * RAD;
  const declination = Math.asin(Math.sin(obliquity) * Math.sin(apparentLongitude));
  const y = Math.tan(obliquity / 2) ** 2;
  const l0 = meanLongitude * RAD;
  const equationOfTime =
    (4 / RAD) *
    (y * Math.sin(2 * l0) -
      2 * eccentricity * Math.sin(m) +
      4 * eccentricity * y * Math.sin(m) * Math.cos(2 * l0) -
      0.5 * y * y * Math.sin(4 * l0) -
      1.25 * eccentricity * eccentricity * Math.sin(2 * m));
  return { declination, equationOfTime };
}

/**
 * Which crossing to compute: -1 the morning one (rising), +1 the evening one (setting), 0 solar
 * noon (the sun on the meridian; `zenith` is then ignored).
 */
export type SunCrossing = -1 | 0 | 1;

/**
 * The UTC instant (ms, rounded to the second) of an event on the solar day that belongs to the
 * UTC calendar day starting at `dayStartMs`, or null if the sun never reaches that zenith angle
 * on that day (polar day or night).
 *
 * @param zenith degrees from the vertical: 90.833 for sunrise and sunset (refraction plus the
 *   sun's radius), 96 / 102 / 108 for civil, nautical and astronomical twilight
 * @param longitude degrees, east positive
 */
export function sunEventOnDay(
  dayStartMs: number,
  latitude: number,
  longitude: number,
  zenith: number,
  crossing: SunCrossing,
): number | null {
  const lat = latitude * RAD;
  // Start from mean solar noon and refine: the declination and the equation of time move during
  // the day, so evaluating them at the event itself brings the error under a minute.
  let t = dayStartMs + (720 - 4 * longitude) * 60_000;
  for (let i = 0; i < 3; i++) {
    const { declination, equationOfTime } = sunState(t);
    const noon = dayStartMs + (720 - 4 * longitude - equationOfTime) * 60_000;
    if (crossing === 0) {
      t = noon;
      continue;
    }
    const cosHourAngle =
      (Math.cos(zenith * RAD) - Math.sin(lat) * Math.sin(declination)) /
      (Math.cos(lat) * Math.cos(declination));
    if (!(cosHourAngle >= -1 && cosHourAngle <= 1)) return null;
    const hourAngle = Math.acos(cosHourAngle) / RAD;
    t = noon + crossing * hourAngle * 4 * 60_000;
  }
  return Math.round(t / 1000) * 1000;
}

export const SUN_DAY_MS = DAY_MS;
