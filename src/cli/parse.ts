/**
 * Parsing of CLI flag values, with errors that name the flag. The number parsers are
 * commander `argParser`s: a bad value stops the command before anything connects, with
 * commander's "option '-c, --concurrency <n>' argument 'x' is invalid." and the reason.
 * Never lets NaN or an out-of-range number through to the runtime.
 */
import { InvalidArgumentError } from 'commander';
import { CeleriacError } from '../errors.js';

export function parseJsonFlag(flag: string, text: string, shape: 'array' | 'object'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CeleriacError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
  const ok =
    shape === 'array'
      ? Array.isArray(value)
      : typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!ok) throw new CeleriacError(`${flag} must be a JSON ${shape}, got: ${text}`);
  return value;
}

/** An argParser for a JSON array (`-a '[2, 3]'`) or object (`-k '{"to": "ada"}'`). */
export function jsonFlag(shape: 'array' | 'object'): (text: string) => unknown {
  return (text) => {
    try {
      return parseJsonFlag('the value', text, shape);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message.replace(/^the value /, 'It '));
    }
  };
}

/** A decimal number as a person types it: `10`, `0.5`, `-3`; not `''`, `1e3`, `0x10` or `10s`. */
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/;

/** An argParser for a whole number within `[min, max]`. */
export function integerFlag(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  return (text) => {
    const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`Give a whole number, ${range}.`);
    }
    return value;
  };
}

/**
 * An argParser for a duration in seconds (fractions allowed): at least `min`, or above it
 * when `positive` (a timeout of 0 would give up at once).
 */
export function secondsFlag(options: { positive: boolean }): (text: string) => number {
  return (text) => {
    const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
    const ok = Number.isFinite(value) && (options.positive ? value > 0 : value >= 0);
    if (!ok) {
      throw new InvalidArgumentError(
        options.positive
          ? 'Give a number of seconds above 0, e.g. 30 or 0.5.'
          : 'Give a number of seconds, 0 or more, e.g. 30 or 0.5.',
      );
    }
    return value;
  };
}

/** An argParser for an instant: an ISO 8601 date such as `2030-01-31T08:00:00Z`. */
export function dateFlag(text: string): Date {
  const date = new Date(text);
  if (text.trim() === '' || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError('Give an ISO 8601 date, e.g. 2030-01-31T08:00:00Z.');
  }
  return date;
}

/** An argParser for `--expires`: seconds from now, or an ISO 8601 date. */
export function secondsOrDateFlag(text: string): number | Date {
  if (DECIMAL.test(text.trim())) return secondsFlag({ positive: true })(text);
  try {
    return dateFlag(text);
  } catch {
    throw new InvalidArgumentError(
      'Give a number of seconds above 0 or an ISO 8601 date, e.g. 3600 or 2030-01-31T08:00:00Z.',
    );
  }
}

/** Splits `a, b,,c` into `['a', 'b', 'c']`; undefined when the flag was not given. */
export function listFlag(text: string | undefined): string[] | undefined {
  return text
    ?.split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}
