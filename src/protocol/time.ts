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
  if (year < 1 || year > 9999) throw new RangeError(`Year ${year} is outside the range Python datetimes allow (1..9999)`);
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
  if (m === null) throw new RangeError(`Not an ISO 8601 datetime: ${JSON.stringify(text.slice(0, 64))}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zulu, sign, oh = '0', om = '0', os = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new RangeError(`Not a valid datetime: ${JSON.stringify(text)}`);
  }
  const offsetHours = Number(oh);
  const offsetMinutes = Number(om);
  if (offsetHours > 23 || offsetMinutes > 59 || Number(os) > 59) {
    throw new RangeError(`Not a valid UTC offset in ${JSON.stringify(text)}`);
  }
  const millis = Number(frac.padEnd(3, '0').slice(0, 3));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  if (zulu === undefined && sign !== undefined) {
    const offsetMs = ((offsetHours * 60 + offsetMinutes) * 60 + Number(os)) * 1000;
    date.setTime(date.getTime() - (sign === '-' ? -offsetMs : offsetMs));
  }
  return date;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
