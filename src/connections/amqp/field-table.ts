/**
 * Converts message headers and declare arguments between JSON values and AMQP field tables,
 * typed the way py-amqp (Python Celery's client) types them, so Python reads back exactly
 * what it would have sent: None -> V, int -> I (signed 32-bit), bigger ints -> 64-bit,
 * float -> d, bool -> t, str -> S, list -> A, dict -> F.
 *
 * Left to itself amqplib picks the smallest integer type (`b`, `s`), and py-amqp reads `b`
 * as unsigned and `s` as a short *string*: a negative retry count or a port number in a
 * header would arrive corrupted. So every number is given an explicit type here.
 *
 * Must never let a value through untyped, and never produce anything but JSON on decode.
 */
import type { JsonValue } from '../../protocol/types.js';

/** amqplib's explicit-type escape hatch: `{ '!': type, value }`. */
export interface TypedNumber {
  '!': 'int' | 'long' | 'double';
  value: number;
}

export type FieldValue =
  string | boolean | null | TypedNumber | FieldValue[] | { [key: string]: FieldValue };
export type FieldTable = { [key: string]: FieldValue };

/** py-amqp writes ints within ±2147483647 as `I`, beyond as a signed 64-bit `L`. */
const INT32_LIMIT = 2_147_483_647;

export function typedNumber(value: number): TypedNumber {
  if (Number.isInteger(value)) {
    if (value >= -INT32_LIMIT && value <= INT32_LIMIT) return { '!': 'int', value };
    // amqplib can only write 64-bit ints with the tag `l`, which py-amqp reads as unsigned:
    // right for positive values, wrong for negative ones, which therefore travel as doubles.
    if (value > 0 && value < 2 ** 63) return { '!': 'long', value };
  }
  return { '!': 'double', value };
}

export function toFieldValue(value: JsonValue): FieldValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return typedNumber(value);
  return Array.isArray(value) ? value.map(toFieldValue) : toFieldTable(value);
}

/** A JSON object as a field table; `undefined` entries are left out, as Celery leaves out unset keys. */
export function toFieldTable(values: { [key: string]: JsonValue | undefined }): FieldTable {
  const table: FieldTable = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) table[key] = toFieldValue(value);
  }
  return table;
}

/**
 * A decoded field value (as amqplib hands it over) as JSON. Types JSON lacks become the
 * nearest JSON value: a timestamp (`T`, e.g. in RabbitMQ's `x-death`) its unix seconds,
 * a decimal its number, a byte array its UTF-8 text.
 */
export function fromFieldValue(value: unknown): JsonValue {
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number')
    return value;
  if (typeof value === 'bigint') return Number(value);
  if (value === null || typeof value !== 'object') return null;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value)) return value.map(fromFieldValue);
  const typed = value as { '!'?: unknown; value?: unknown };
  if (typed['!'] === 'timestamp' && typeof typed.value === 'number') return typed.value;
  if (typed['!'] === 'decimal') {
    const decimal = typed.value as { places: number; digits: number };
    return decimal.digits / 10 ** decimal.places;
  }
  return fromFieldTable(value as Record<string, unknown>);
}

export function fromFieldTable(table: Record<string, unknown> | undefined): {
  [key: string]: JsonValue;
} {
  const result: { [key: string]: JsonValue } = {};
  if (!table) return result;
  for (const [key, value] of Object.entries(table)) result[key] = fromFieldValue(value);
  return result;
}

/**
 * fromFieldTable for a table amqplib has just decoded for one delivery, which the caller
 * owns: the values JSON lacks are converted where they lie instead of the table being
 * copied, and the same object is returned. The consumer's hot path: a Celery message has
 * some twenty headers, and a copy per delivery is garbage the worker collects. Converting
 * a table twice gives the same table.
 */
export function fromOwnedFieldTable(table: Record<string, unknown> | undefined): {
  [key: string]: JsonValue;
} {
  if (!table) return {};
  for (const key in table) {
    const value = table[key];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      table[key] = fromOwnedFieldValue(value);
  }
  return table as { [key: string]: JsonValue };
}

function fromOwnedFieldValue(value: unknown): JsonValue {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = fromOwnedFieldValue(value[i]);
    return value as JsonValue[];
  }
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value))
    return fromFieldValue(value);
  const typed = value as { '!'?: unknown };
  if (typed['!'] === 'timestamp' || typed['!'] === 'decimal') return fromFieldValue(value);
  return fromOwnedFieldTable(value as Record<string, unknown>);
}
