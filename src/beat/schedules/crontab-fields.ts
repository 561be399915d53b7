/**
 * Strict parsing and validation of cron expressions (5 fields, or 6 with leading seconds) and of
 * Celery-style field objects, into a normalised expression. Croner does the date matching; this
 * file exists so every mistake is refused up front with a message that names the field and the
 * bad value (croner's own messages are off by one for day and month, and it accepts extensions
 * such as `L`, `W`, `#` and `?` that other cron implementations would read differently).
 * Must never guess: anything outside standard Vixie syntax is an error, not a best effort.
 */

import { InvalidScheduleError, quote } from './errors.js';
import type { CrontabDayMatch } from './schedule.js';

export type CronFieldName =
  'second' | 'minute' | 'hour' | 'dayOfMonth' | 'monthOfYear' | 'dayOfWeek';

interface FieldSpec {
  readonly name: CronFieldName;
  /** How the field is called in messages, as cron documentation names it. */
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Values `*` stands for; day-of-week `*` is 0-6 because 7 is Sunday again. */
  readonly starMax: number;
  readonly names?: readonly string[];
  readonly help: string;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const SPECS: Record<CronFieldName, FieldSpec> = {
  second: { name: 'second', label: 'second', min: 0, max: 59, starMax: 59, help: '0-59' },
  minute: { name: 'minute', label: 'minute', min: 0, max: 59, starMax: 59, help: '0-59' },
  hour: { name: 'hour', label: 'hour', min: 0, max: 23, starMax: 23, help: '0-23' },
  dayOfMonth: {
    name: 'dayOfMonth',
    label: 'day-of-month',
    min: 1,
    max: 31,
    starMax: 31,
    help: '1-31',
  },
  monthOfYear: {
    name: 'monthOfYear',
    label: 'month',
    min: 1,
    max: 12,
    starMax: 12,
    names: MONTHS,
    help: '1-12 or JAN-DEC',
  },
  dayOfWeek: {
    name: 'dayOfWeek',
    label: 'day-of-week',
    min: 0,
    max: 7,
    starMax: 6,
    names: DAYS,
    help: '0-7 (0 and 7 are Sunday) or SUN-SAT',
  },
};

const FIVE: readonly CronFieldName[] = ['minute', 'hour', 'dayOfMonth', 'monthOfYear', 'dayOfWeek'];
const SIX: readonly CronFieldName[] = ['second', ...FIVE];

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

export interface ParsedField {
  /** Normalised text passed to croner: names upper-cased, no spaces. */
  readonly text: string;
  /** Every value the field matches (day-of-week 7 folded into 0). */
  readonly values: ReadonlySet<number>;
}

export interface ParsedCron {
  /** The normalised expression, 5 or 6 fields separated by single spaces. */
  readonly expression: string;
  readonly hasSeconds: boolean;
  readonly fields: Readonly<Record<CronFieldName, ParsedField>>;
  /** True when a day must match both day-of-month and day-of-week (see `CrontabDayMatch`). */
  readonly daysMatchBoth: boolean;
}

/** Parses and validates a cron expression. */
export function parseCronExpression(
  input: string,
  dayMatch: CrontabDayMatch = 'vixie',
): ParsedCron {
  if (typeof input !== 'string') {
    throw new InvalidScheduleError(
      'expr',
      input,
      `crontab expression must be a string, got ${quote(input)}.`,
    );
  }
  const trimmed = input.trim();
  let expr = trimmed;
  if (trimmed.startsWith('@')) {
    const expanded = NICKNAMES[trimmed.toLowerCase()];
    if (expanded === undefined) {
      throw new InvalidScheduleError(
        'expr',
        input,
        `crontab nickname ${quote(input)} is not supported; use one of ${Object.keys(NICKNAMES).join(', ')} or a 5-field expression.`,
      );
    }
    expr = expanded;
  }
  const parts = expr === '' ? [] : expr.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new InvalidScheduleError(
      'expr',
      input,
      `crontab expression ${quote(input)} has ${parts.length} field${parts.length === 1 ? '' : 's'}; ` +
        'expected 5 (minute hour day-of-month month day-of-week) or 6 (second minute hour day-of-month month day-of-week).',
    );
  }
  const names = parts.length === 6 ? SIX : FIVE;
  const fields: Partial<Record<CronFieldName, ParsedField>> = {};
  names.forEach((name, i) => {
    fields[name] = parseField(SPECS[name], parts[i] ?? '', input);
  });
  const second = fields.second ?? { text: '0', values: new Set([0]) };
  const all = { ...(fields as Record<Exclude<CronFieldName, 'second'>, ParsedField>), second };
  // Vixie cron: a day field that starts with "*" (even "*/2") turns OR into AND. Croner alone
  // (domAndDow false, the old legacyMode) would OR "*/2" with a weekday. With "*" itself AND and
  // OR agree, so this one rule covers every case.
  const daysMatchBoth =
    dayMatch === 'both' ||
    all.dayOfMonth.text.startsWith('*') ||
    all.dayOfWeek.text.startsWith('*');
  if (daysMatchBoth) checkDaysExist(all, input);
  return {
    expression: names.map((n) => all[n].text).join(' '),
    hasSeconds: parts.length === 6,
    fields: all,
    daysMatchBoth,
  };
}

/** A value for one field of the object form: `'*\/15'`, `5`, `[0, 30]`, `'MON-FRI'`. */
export type CronFieldValue = string | number | readonly number[];

/** Celery-style fields; anything left out is `*`, except `second` which, when absent, means a 5-field expression. */
export interface CrontabFields {
  second?: CronFieldValue;
  minute?: CronFieldValue;
  hour?: CronFieldValue;
  dayOfMonth?: CronFieldValue;
  monthOfYear?: CronFieldValue;
  dayOfWeek?: CronFieldValue;
}

/** Turns the object form into the equivalent expression, refusing unknown keys (`day_of_week`, `minutes`). */
export function fieldsToExpression(fields: CrontabFields): string {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new InvalidScheduleError(
      'fields',
      fields,
      `crontab fields must be an object like { minute: 0, hour: 8 }, got ${quote(fields)}.`,
    );
  }
  for (const key of Object.keys(fields)) {
    if (!(key in SPECS)) {
      throw new InvalidScheduleError(
        key,
        (fields as Record<string, unknown>)[key],
        `crontab field ${quote(key)} is unknown; use ${SIX.join(', ')}.`,
      );
    }
  }
  const names = fields.second === undefined ? FIVE : SIX;
  return names.map((name) => fieldValueText(SPECS[name], fields[name])).join(' ');
}

function fieldValueText(spec: FieldSpec, value: CronFieldValue | undefined): string {
  if (value === undefined) return '*';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw outOfRange(spec, value, String(value));
    return String(value);
  }
  if (Array.isArray(value)) {
    const list = value as readonly unknown[];
    if (list.length === 0 || !list.every((v) => typeof v === 'number' && Number.isInteger(v))) {
      throw new InvalidScheduleError(
        spec.name,
        value,
        `crontab ${spec.label} ${quote(value)} must be a non-empty list of whole numbers (${spec.help}).`,
      );
    }
    return list.join(',');
  }
  if (typeof value === 'string') {
    // Spaces inside one field would shift every later field along, so they are refused here.
    if (/\s/.test(value.trim()) || value.trim() === '') {
      throw new InvalidScheduleError(
        spec.name,
        value,
        `crontab ${spec.label} ${quote(value)} must be one field without spaces, e.g. "*/15", "1-5" or "0,30".`,
      );
    }
    return value.trim();
  }
  throw new InvalidScheduleError(
    spec.name,
    value,
    `crontab ${spec.label} must be a string, a number or a list of numbers, got ${quote(value)}.`,
  );
}

function parseField(spec: FieldSpec, raw: string, expr: string): ParsedField {
  const values = new Set<number>();
  const items = raw.split(',');
  const texts = items.map((item) => parseItem(spec, item, raw, expr, values));
  return { text: texts.join(','), values };
}

/** One list item: `*`, `*\/n`, `v`, `v-w` or `v-w/n`. Adds its values; returns its normalised text. */
function parseItem(
  spec: FieldSpec,
  item: string,
  raw: string,
  expr: string,
  into: Set<number>,
): string {
  const where = `in ${quote(expr)}`;
  if (item === '') {
    throw new InvalidScheduleError(
      spec.name,
      raw,
      `crontab ${spec.label} ${quote(raw)} has an empty list item ${where}; separate values with single commas.`,
    );
  }
  const slash = item.split('/');
  if (slash.length > 2) {
    throw new InvalidScheduleError(
      spec.name,
      raw,
      `crontab ${spec.label} ${quote(item)} has more than one "/" ${where}.`,
    );
  }
  const [rangeText = '', stepText] = slash;
  let step = 1;
  if (stepText !== undefined) {
    const span = spec.starMax - spec.min + 1;
    step = /^\d+$/.test(stepText) ? Number(stepText) : NaN;
    if (!(step >= 1 && step <= span)) {
      throw new InvalidScheduleError(
        spec.name,
        raw,
        `crontab ${spec.label} step ${quote(item)} must be a whole number from 1 to ${span} ${where}.`,
      );
    }
  }
  let low: number;
  let high: number;
  let text: string;
  if (rangeText === '*') {
    [low, high, text] = [spec.min, spec.starMax, '*'];
  } else {
    const dash = rangeText.split('-');
    if (dash.length > 2) {
      throw new InvalidScheduleError(
        spec.name,
        raw,
        `crontab ${spec.label} ${quote(item)} is not a value or a range (a-b) ${where}.`,
      );
    }
    low = parseValue(spec, dash[0] ?? '', raw, expr, false);
    high = dash[1] === undefined ? low : parseValue(spec, dash[1], raw, expr, true);
    if (dash[1] === undefined && stepText !== undefined) {
      // "5/15" means "5-59/15" to some crons and is an error to others: make the user say which.
      throw new InvalidScheduleError(
        spec.name,
        raw,
        `crontab ${spec.label} ${quote(item)} steps from a single value ${where}; write a range such as "${dash[0] ?? ''}-${spec.starMax}/${stepText}" or "*/${stepText}".`,
      );
    }
    if (low > high) {
      throw new InvalidScheduleError(
        spec.name,
        raw,
        `crontab ${spec.label} range ${quote(item)} runs backwards ${where}; ranges do not wrap, write it as a list of two ranges.`,
      );
    }
    text = dash.map((part) => part.toUpperCase()).join('-');
  }
  for (let v = low; v <= high; v += step) into.add(spec.name === 'dayOfWeek' && v === 7 ? 0 : v);
  return stepText === undefined ? text : `${text}/${step}`;
}

/** A number in range, or a name; `SUN` at the end of a range is 7 so that `FRI-SUN` works. */
function parseValue(
  spec: FieldSpec,
  text: string,
  raw: string,
  expr: string,
  rangeEnd: boolean,
): number {
  let value: number;
  if (/^\d+$/.test(text)) {
    value = Number(text);
  } else {
    const index = spec.names?.indexOf(text.toUpperCase()) ?? -1;
    if (index < 0) {
      throw new InvalidScheduleError(
        spec.name,
        raw,
        `crontab ${spec.label} ${quote(text)} is not a number (${spec.help}) in ${quote(expr)}.`,
      );
    }
    value = spec.name === 'monthOfYear' ? index + 1 : index === 0 && rangeEnd ? 7 : index;
  }
  if (value < spec.min || value > spec.max) throw outOfRange(spec, raw, text, expr);
  return value;
}

function outOfRange(
  spec: FieldSpec,
  raw: unknown,
  text: string,
  expr?: string,
): InvalidScheduleError {
  const where = expr === undefined ? '' : ` in ${quote(expr)}`;
  return new InvalidScheduleError(
    spec.name,
    raw,
    `crontab ${spec.label} ${quote(text)} is out of range: allowed ${spec.help}${where}.`,
  );
}

const MAX_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Refuses day-of-month and month combinations that never happen (`0 0 30 2 *`), which would
 * otherwise make every lookup search to the year 9999. Only called when the day-of-month has to
 * match; with a restricted day-of-week under Vixie's OR rule (`0 0 30 2 MON`) the job still runs.
 */
function checkDaysExist(fields: Record<CronFieldName, ParsedField>, expr: string): void {
  const longest = Math.max(...[...fields.monthOfYear.values].map((m) => MAX_DAYS[m - 1] ?? 31));
  const smallestDay = Math.min(...fields.dayOfMonth.values);
  if (smallestDay > longest) {
    throw new InvalidScheduleError(
      'dayOfMonth',
      fields.dayOfMonth.text,
      `crontab day-of-month ${quote(fields.dayOfMonth.text)} never occurs in month ${quote(fields.monthOfYear.text)} in ${quote(expr)}, so the schedule would never run.`,
    );
  }
}
