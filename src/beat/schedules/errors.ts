/**
 * The one error a schedule can raise: its definition is invalid. Thrown when a schedule is built
 * (in code, from the CLI, or from JSON stored in a database), never later while it is evaluated,
 * so a bad schedule is refused when it is saved rather than when beat ticks at 3 a.m.
 * Must never be thrown for a valid schedule that merely has no further runs (that is `null`).
 */

import { CeleriacError } from '../../errors.js';

export class InvalidScheduleError extends CeleriacError {
  /**
   * @param field the field that is wrong, as the user wrote it (`minute`, `tz`, `latitude`, ...)
   * @param value the bad value itself, kept for programmatic handling (e.g. an edit form)
   * @param message a full sentence that names the field and the value and says how to fix it
   */
  constructor(
    readonly field: string,
    readonly value: unknown,
    message: string,
  ) {
    super(message);
  }
}

/** Quotes a user value for an error message without letting a huge value flood the log. */
export function quote(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (value instanceof Date)
    text = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (value === undefined) text = 'undefined';
  else {
    try {
      // JSON.stringify gives undefined for functions and symbols: name their type instead.
      text = JSON.stringify(value) ?? typeof value;
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Rejects anything that is not a valid Date: every schedule function reasons about real instants. */
export function assertValidDate(value: unknown, field: string): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidScheduleError(
      field,
      value,
      `${field} must be a valid Date, got ${quote(value)}.`,
    );
  }
}
