/**
 * Durations as people type them (`30s`, `5m`, `1h30m`, `2d`) for the CLI's `--every` and for
 * interval schedules, and the inverse formatting for `describe()`. Pure string maths.
 * Must never accept something ambiguous (a bare "5000", "1.5h", "5 min"): a mistyped period
 * silently turned into a different period would make beat flood or starve a queue.
 */

import { InvalidScheduleError, quote } from './errors.js';

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

// Units in descending order, each at most once, so "30m1h" or "1h1h" is refused as a likely typo.
const PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

const HELP =
  'use a positive whole number of milliseconds or a string like "30s", "5m", "1h30m", "2d" (units d, h, m, s, ms, largest first)';

/**
 * Parses a duration into milliseconds.
 *
 * @param input a positive whole number of milliseconds, or units largest first: `d`, `h`, `m`,
 *   `s`, `ms`.
 * @returns milliseconds, a positive safe integer
 * @throws InvalidScheduleError naming the input and the accepted forms
 * @example parseDuration('1h30m') === 5_400_000; parseDuration(250) === 250
 */
export function parseDuration(input: string | number, field = 'duration'): number {
  if (typeof input === 'number') return checkMs(input, input, field);
  if (typeof input !== 'string') {
    throw new InvalidScheduleError(field, input, `${field} ${quote(input)} is not valid: ${HELP}.`);
  }
  const text = input.trim();
  const match = PATTERN.exec(text);
  if (text === '' || match === null) {
    const hint = /^\d+$/.test(text)
      ? ' (add a unit: a string needs one, e.g. "5000ms" or "5s")'
      : '';
    throw new InvalidScheduleError(
      field,
      input,
      `${field} ${quote(input)} is not valid${hint}: ${HELP}.`,
    );
  }
  let ms = 0;
  UNITS.forEach(([, size], i) => {
    const digits = match[i + 1];
    if (digits !== undefined) ms += Number(digits) * size;
  });
  return checkMs(ms, input, field);
}

function checkMs(ms: number, input: string | number, field: string): number {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new InvalidScheduleError(
      field,
      input,
      `${field} ${quote(input)} is not valid: it must be greater than zero and a whole number of milliseconds; ${HELP}.`,
    );
  }
  return ms;
}

/**
 * Formats milliseconds the way `parseDuration` reads them, largest units first.
 * @example formatDuration(5_400_000) === '1h30m'
 */
export function formatDuration(ms: number): string {
  let rest = ms;
  let out = '';
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out === '' ? '0ms' : out;
}
