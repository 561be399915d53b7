/**
 * Rebuilds a schedule from its stored JSON. Schedules live in a database and are edited at run
 * time (by hand, by the dashboard, by another language), so the input is treated as untrusted:
 * every field is checked, unknown fields are refused (a misspelt "timezone" must not silently
 * mean UTC) and errors name the field. Must never fill in a guess for a malformed value.
 */

import { clocked } from './clocked.js';
import { crontab } from './crontab.js';
import { InvalidScheduleError, quote } from './errors.js';
import { IntervalSchedule } from './interval.js';
import type { CrontabDayMatch, Schedule, ScheduleJson, SolarEvent } from './schedule.js';
import { solar } from './solar.js';

const KEYS: Readonly<Record<ScheduleJson['kind'], readonly string[]>> = {
  crontab: ['kind', 'expr', 'tz', 'dayMatch'],
  interval: ['kind', 'everyMs', 'anchor'],
  clocked: ['kind', 'at'],
  solar: ['kind', 'event', 'latitude', 'longitude'],
};

// An explicit offset is required: "2026-03-29T01:30:00" would be read in the host's zone.
const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Builds a schedule from `Schedule#toJSON()` output, e.g. a row read back from the database.
 * @param json a `ScheduleJson`; typed `unknown` because data read back from storage is not trusted
 * @throws InvalidScheduleError naming the bad field and value
 */
export function scheduleFromJson(json: unknown): Schedule {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidScheduleError(
      'schedule',
      json,
      `schedule JSON must be an object with a "kind", got ${quote(json)}.`,
    );
  }
  const record = json as Record<string, unknown>;
  const kind = record.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(KEYS, kind)) {
    throw new InvalidScheduleError(
      'kind',
      kind,
      `schedule kind ${quote(kind)} is unknown; use one of ${Object.keys(KEYS).join(', ')}.`,
    );
  }
  const typedKind = kind as ScheduleJson['kind'];
  const allowed = KEYS[typedKind];
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new InvalidScheduleError(
        key,
        record[key],
        `${kind} schedule JSON has an unknown field ${quote(key)}; its fields are ${allowed.join(', ')}.`,
      );
    }
  }
  switch (typedKind) {
    case 'crontab': {
      const tz = optional(record, 'tz', 'string');
      const dayMatch = optional(record, 'dayMatch', 'string') as CrontabDayMatch | undefined;
      return crontab(required(record, 'expr', 'string'), {
        ...(tz === undefined ? {} : { tz }),
        ...(dayMatch === undefined ? {} : { dayMatch }),
      });
    }
    case 'interval': {
      const anchor = optional(record, 'anchor', 'string');
      return new IntervalSchedule(
        required(record, 'everyMs', 'number'),
        anchor === undefined ? null : instant(anchor, 'anchor'),
      );
    }
    case 'clocked':
      return clocked(instant(required(record, 'at', 'string'), 'at'));
    case 'solar':
      return solar(
        required(record, 'event', 'string') as SolarEvent,
        required(record, 'latitude', 'number'),
        required(record, 'longitude', 'number'),
      );
  }
}

interface TypeNames {
  string: string;
  number: number;
}

function required<K extends keyof TypeNames>(
  record: Record<string, unknown>,
  key: string,
  type: K,
): TypeNames[K] {
  const value = optional(record, key, type);
  if (value === undefined) {
    throw new InvalidScheduleError(
      key,
      undefined,
      `${String(record.kind)} schedule JSON needs a ${type} field ${quote(key)}.`,
    );
  }
  return value;
}

function optional<K extends keyof TypeNames>(
  record: Record<string, unknown>,
  key: string,
  type: K,
): TypeNames[K] | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== type) {
    throw new InvalidScheduleError(
      key,
      value,
      `${String(record.kind)} schedule field ${quote(key)} must be a ${type}, got ${quote(value)}.`,
    );
  }
  return value as TypeNames[K];
}

function instant(text: string, field: string): Date {
  const date = new Date(text);
  if (!isRealInstant(text) || Number.isNaN(date.getTime())) {
    throw new InvalidScheduleError(
      field,
      text,
      `schedule field ${quote(field)} must be an ISO 8601 instant with a zone, like "2026-03-29T01:30:00Z", got ${quote(text)}.`,
    );
  }
  return date;
}

/** The ISO shape, with every field in range: Date would read "2026-02-30" as 2 March. */
function isRealInstant(text: string): boolean {
  const m = ISO_INSTANT.exec(text);
  if (m === null) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m
    .slice(1)
    .map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year ?? 0, month ?? 0, 0)).getUTCDate();
  const within = (value: number | undefined, min: number, max: number) =>
    value !== undefined && value >= min && value <= max;
  return (
    within(month, 1, 12) &&
    within(day, 1, daysInMonth) &&
    within(hour, 0, 23) &&
    within(minute, 0, 59) &&
    within(second, 0, 59) &&
    within(offsetHours, 0, 23) &&
    within(offsetMinutes, 0, 59)
  );
}
