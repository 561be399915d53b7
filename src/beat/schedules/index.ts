/**
 * The public surface of beat's schedule maths: schedule kinds, JSON round-tripping, durations
 * and the per-tick due decision. Re-exports only; must never hold logic of its own.
 */

export type {
  ClockedJson,
  CrontabDayMatch,
  CrontabJson,
  IntervalJson,
  Schedule,
  ScheduleJson,
  ScheduleKind,
  SolarEvent,
  SolarJson,
} from './schedule.js';
export { scheduleFromJson } from './schedule-json.js';
export {
  crontab,
  CrontabSchedule,
  type CronFieldValue,
  type CrontabFields,
  type CrontabOptions,
} from './crontab.js';
export { every, IntervalSchedule, type IntervalOptions } from './interval.js';
export { clocked, ClockedSchedule } from './clocked.js';
export { solar, SolarSchedule, SOLAR_EVENTS } from './solar.js';
export { parseDuration, formatDuration } from './duration.js';
export {
  dueRuns,
  DEFAULT_GRACE_MS,
  type DueRunsInput,
  type DueRunsResult,
  type MissedRunPolicy,
} from './due.js';
export { InvalidScheduleError } from './errors.js';
