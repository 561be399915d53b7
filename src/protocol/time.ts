/**
 * Datetimes as Celery writes and reads them in headers (`eta`, `expires`) and result metas
 * (`date_done`): Python's `datetime.isoformat()` of an aware UTC datetime. Readers accept
 * every form Celery 5.x has written (`+00:00`, `Z`, naive = UTC, up to microseconds).
 * Never consults the local time zone: naive means UTC, as Celery does with enable_utc.
 */

/**
 * Python's `datetime.isoformat()` of this instant in UTC, e.g.
 * `2030-01-02T03:04:05.678000+00:00`; without a fractional part when it is zero
 * (`2030-01-03T00:00:00+00:00`), as Python does.
 * @throws RangeError for an invalid Date or a year outside 1..9999 (Python's range).
 */
export function formatCeleryDate(date: Date): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new RangeError('Cannot format an invalid Date for Celery');
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999)
    throw new RangeError(`Year ${year} is outside the range Python datetimes allow (1..9999)`);
  const millis = date.getUTCMilliseconds();
  const fraction = millis === 0 ? '' : `.${pad(millis, 3)}000`;
  return (
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}` +
    `${fraction}+00:00`
  );
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

// date [T|space time [.fraction] [Z | ±HH[:MM[:SS[.ffffff]]] | ±HHMM]]
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?)?)?$/;

/**
 * Parse a datetime as Celery writes it into a Date: `2030-01-02T03:04:05.678901+00:00`,
 * `...Z`, naive (taken as UTC), or a bare date (midnight UTC). Sub-millisecond digits are
 * dropped (a Date holds milliseconds).
 * @throws RangeError when the text is not such a datetime or names an impossible date.
 */
export function parseCeleryDate(text: string): Date {
  const m = ISO.exec(text);
  if (m === null)
    throw new RangeError(`Not an ISO 8601 datetime: ${JSON.stringify(text.slice(0, 64))}`);
  // Groups read one by one and their digits summed here: destructuring the match with
  // defaults and Number() on each group cost twice the regex itself.
  const year = digitsValue(m[1]);
  const month = digitsValue(m[2]);
  const day = digitsValue(m[3]);
  const hour = digitsValue(m[4]);
  const minute = digitsValue(m[5]);
  const second = digitsValue(m[6]);
  if (
    year < 1 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new RangeError(`Not a valid datetime: ${JSON.stringify(text)}`);
  }
  const offsetHours = digitsValue(m[10]);
  const offsetMinutes = digitsValue(m[11]);
  const offsetSeconds = digitsValue(m[12]);
  if (offsetHours > 23 || offsetMinutes > 59 || offsetSeconds > 59) {
    throw new RangeError(`Not a valid UTC offset in ${JSON.stringify(text)}`);
  }
  const frac = m[7];
  const millis = frac === undefined ? 0 : fractionMillis(frac);
  const ms = utcMilliseconds(year, month, day, hour, minute, second, millis);
  const sign = m[9];
  if (m[8] !== undefined || sign === undefined) return new Date(ms);
  const offsetMs = ((offsetHours * 60 + offsetMinutes) * 60 + offsetSeconds) * 1000;
  return new Date(ms - (sign === '-' ? -offsetMs : offsetMs));
}

/** The value of a run of ASCII digits (the regex admits nothing else); 0 for an absent group. */
function digitsValue(digits: string | undefined): number {
  if (digits === undefined) return 0;
  let value = 0;
  for (let i = 0; i < digits.length; i++) value = value * 10 + digits.charCodeAt(i) - 0x30;
  return value;
}

/** Whole milliseconds of a decimal fraction of a second: "5" is 500, "678901" is 678. */
function fractionMillis(digits: string): number {
  let millis = 0;
  for (let i = 0; i < 3; i++)
    millis = millis * 10 + (i < digits.length ? digits.charCodeAt(i) - 0x30 : 0);
  return millis;
}

/** Milliseconds since the epoch of a valid UTC date and time. */
function utcMilliseconds(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number,
): number {
  // Date.UTC is the fast way but reads years 0..99 as 1900..1999; those take the long way.
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
