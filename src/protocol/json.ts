/**
 * JSON exactly as Celery's side writes and reads it. `toPythonJson` produces the same text
 * as Python's `json.dumps` with its defaults (", " and ": " separators, ASCII-only output
 * with \uXXXX escapes, Python's number forms), so a body we publish is byte-identical to the
 * one Celery would publish for the same values. `parseCeleryJson` reads what Python writes,
 * including NaN/Infinity and kombu 5.3+'s tagged values. Hot path: keep it allocation-light.
 * It must never evaluate anything it reads, nor hand back anything but plain data.
 */
import type { JsonObject, JsonValue } from './types.js';
import { pythonNumberText } from './python-number.js';

/**
 * JSON as Python sees it: like {@link JsonValue}, but integers past 2^53 may be `bigint`
 * so that they survive a round trip exactly (Python ints are unbounded).
 */
export type WideJsonValue = JsonValue | bigint | WideJsonValue[] | { [key: string]: WideJsonValue };

/**
 * How deep arrays and objects may nest (the outermost one counts as 1), for reading and
 * writing alike, so that whatever was read can be written back (a retry re-sends the
 * arguments it read). Past it the input is either hostile or circular; both are rejected,
 * not followed. Python's json stops near the same depth (its recursion limit).
 */
export const MAX_JSON_DEPTH = 1000;
const MAX_DEPTH = MAX_JSON_DEPTH;

// Printable ASCII except `"` and `\`: such strings are written between quotes unchanged.
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

const HEX = '0123456789abcdef';
// Escapes of the first 2048 code units (Latin to Arabic), filled on first use: such text
// repeats the same few characters. Rarer code units are formatted each time.
const CACHED_UNITS = 0x800;
const ESCAPES: (string | undefined)[] = new Array<string | undefined>(CACHED_UNITS);
Object.assign(ESCAPES, {
  0x22: '\\"',
  0x5c: '\\\\',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
});

function escapeUnit(c: number): string {
  const escaped = `\\u${HEX[c >> 12]}${HEX[(c >> 8) & 15]}${HEX[(c >> 4) & 15]}${HEX[c & 15]}`;
  if (c < CACHED_UNITS) ESCAPES[c] = escaped;
  return escaped;
}

/** A string as `json.dumps(..., ensure_ascii=True)` writes it, quotes included. */
export function pythonJsonString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `"${text}"`;
  let out = '"';
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    if (i > last) out += text.slice(last, i);
    last = i + 1;
    // Code units, not code points: emoji come out as surrogate pairs, as in Python.
    out += ESCAPES[c] ?? escapeUnit(c);
  }
  if (last < n) out += text.slice(last);
  return `${out}"`;
}

/**
 * The exact text Python's `json.dumps(value)` writes for the same data.
 * Object keys keep insertion order, except that JavaScript itself lists integer-like keys
 * (`"1"`, `"42"`) first in any object; keys whose value is `undefined` are left out and
 * `undefined` in an array is written `null`, as JSON.stringify does. Objects with a
 * `toJSON` method (Date) are written as what it returns.
 * @throws TypeError on a circular or absurdly deep structure, or a value JSON cannot hold.
 */
export function toPythonJson(value: WideJsonValue): string {
  return write(value, 0);
}

/**
 * A writer for records with a fixed key order (a result meta): its output is `toPythonJson`
 * of an object holding the record's values for `keys`, in that order, without building that
 * object, and with each key's `"key": ` text made once here instead of on every call. Keys
 * whose value is `undefined` are left out, as toPythonJson does. `keys` must not hold
 * integer-like keys, which an object would list first.
 */
export function pythonJsonWriterInOrder(
  keys: readonly string[],
): (record: Readonly<Record<string, unknown>>) => string {
  const names = keys.map((key) => `${pythonJsonString(key)}: `);
  return (record) => {
    let out = '';
    for (let i = 0; i < keys.length; i++) {
      const item = record[keys[i]!];
      if (item === undefined) continue;
      // Depth 1, as these values sit inside the object toPythonJson would have been given.
      out += out === '' ? `{${names[i]}` : `, ${names[i]}`;
      out += write(item, 1);
    }
    return out === '' ? '{}' : `${out}}`;
  };
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return pythonJsonString(value);
    case 'number':
      return pythonNumberText(value, 'json');
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH)
        throw new TypeError(
          `Cannot write JSON nested deeper than ${MAX_DEPTH} levels (circular structure?)`,
        );
      if (Array.isArray(value)) return writeArray(value, depth + 1);
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return write((value as { toJSON: () => unknown }).toJSON(), depth + 1);
      }
      return writeObject(value as Record<string, unknown>, depth + 1);
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new TypeError(`Cannot write a ${typeof value} as JSON`);
  }
}

function writeArray(items: readonly unknown[], depth: number): string {
  const n = items.length;
  if (n === 0) return '[]';
  let out = '[';
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ', ';
    const item = items[i];
    out += item === undefined ? 'null' : write(item, depth);
  }
  return `${out}]`;
}

function writeObject(object: Record<string, unknown>, depth: number): string {
  let out = '{';
  let first = true;
  for (const key in object) {
    if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
    const item = object[key];
    if (item === undefined) continue;
    if (first) first = false;
    else out += ', ';
    out += pythonJsonKey(key);
    out += write(item, depth);
  }
  return `${out}}`;
}

/** Most object keys whose written form is remembered (message headers repeat the same few). */
const MAX_KEY_TEXTS = 4096;
const KEY_TEXTS = new Map<string, string>();

/** `"key": ` as json.dumps writes an object key; made once per key text, not per object. */
export function pythonJsonKey(key: string): string {
  let text = KEY_TEXTS.get(key);
  if (text === undefined) {
    text = `${pythonJsonString(key)}: `;
    if (KEY_TEXTS.size < MAX_KEY_TEXTS) KEY_TEXTS.set(key, text);
  }
  return text;
}

/**
 * `toPythonJson(value)` for a value that sits `depth` containers deep in a document being
 * written piece by piece (an envelope written without building its wrapper object): the
 * same text, and the same nesting limit, as writing the whole document at once.
 */
export function toPythonJsonAt(value: WideJsonValue, depth: number): string {
  return write(value, depth);
}

export interface ParseOptions {
  /**
   * Keep integers beyond ±2^53 exact as `bigint` instead of rounding them to the nearest
   * double, as JSON.parse does. Default false: the result is plain {@link JsonValue}.
   */
  bigint?: boolean;
}

/**
 * Parse JSON written by Python/kombu into plain data.
 *
 * - kombu 5.3+ tags (`{"__type__": ..., "__value__": ...}`, exactly those two keys) become
 *   strings: `datetime`/`date`/`time` keep Python's ISO text, `decimal` its digits, `uuid`
 *   the canonical dashed form, `bytes` its UTF-8 text and `base64` its base64 text. Tags
 *   this module does not know are left as they are.
 * - `NaN`, `Infinity` and `-Infinity`, which Python writes by default, are accepted.
 * @throws SyntaxError when the text is not JSON.
 */
export function parseCeleryJson(text: string): JsonValue;
export function parseCeleryJson(
  text: string,
  options: ParseOptions & { bigint: true },
): WideJsonValue;
export function parseCeleryJson(text: string, options?: ParseOptions): WideJsonValue;
export function parseCeleryJson(text: string, options?: ParseOptions): WideJsonValue {
  const bigint = options?.bigint === true;
  let value: WideJsonValue;
  if (bigint && LONG_INTEGER.test(text)) {
    value = new ExactParser(text, true).parseDocument();
  } else {
    try {
      value = JSON.parse(text) as JsonValue;
    } catch (error) {
      // Python writes NaN/Infinity, which JSON.parse refuses; the slow parser accepts them
      // and gives the precise reason when the text really is broken.
      if (!(error instanceof SyntaxError)) throw error;
      value = new ExactParser(text, bigint).parseDocument();
    }
    // JSON.parse has no depth limit. Nesting n levels takes 2n characters, so only a text
    // that long can be too deep: the usual small body skips the walk.
    if (text.length > 2 * MAX_DEPTH && nestedTooDeep(value, 1))
      throw new SyntaxError(`JSON nested too deeply (more than ${MAX_DEPTH} levels)`);
  }
  return mayHoldTags(text) ? untag(value, 0) : value;
}

/** Whether a container in `value` (itself at nesting level `level`) sits deeper than MAX_DEPTH. */
function nestedTooDeep(value: WideJsonValue, level: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (level > MAX_DEPTH) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      if (nestedTooDeep(value[i] as WideJsonValue, level + 1)) return true;
    return false;
  }
  for (const key in value) if (nestedTooDeep(value[key] as WideJsonValue, level + 1)) return true;
  return false;
}

/**
 * Whether the text has a `"__type__"` key at all. Searching for the quoted form directly
 * is four times slower than searching for the bare word: V8 scans for the needle's first
 * character, and JSON is full of quotes but has few underscores. The second search keeps
 * the answer exactly that of the quoted one.
 */
function mayHoldTags(text: string): boolean {
  return text.includes('__type__') && text.includes('"__type__"');
}

// Sixteen digits or more can exceed 2^53; a false hit (in a string) only costs speed.
const LONG_INTEGER = /\d{16}/;

type Decoder = (tagged: WideJsonValue) => WideJsonValue | undefined;

const asString: Decoder = (v) => (typeof v === 'string' ? v : undefined);

const TAG_DECODERS: Record<string, Decoder> = {
  datetime: asString,
  date: asString,
  time: asString,
  decimal: asString,
  bytes: asString,
  base64: asString,
  uuid: (v) => {
    // kombu writes {"hex": "<32 hex digits>"}, the keyword argument uuid.UUID() takes back.
    const hex = typeof v === 'string' ? v : isPlainObject(v) ? v.hex : undefined;
    if (typeof hex !== 'string') return undefined;
    const digits = hex
      .replace(/^urn:uuid:/i, '')
      .replace(/[{}-]/g, '')
      .toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(digits)) return undefined;
    return `${digits.slice(0, 8)}-${digits.slice(8, 12)}-${digits.slice(12, 16)}-${digits.slice(16, 20)}-${digits.slice(20)}`;
  },
};

function isPlainObject(v: WideJsonValue): v is { [key: string]: WideJsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function untag(value: WideJsonValue, depth: number): WideJsonValue {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = untag(value[i] as WideJsonValue, depth + 1);
    return value;
  }
  const keys = Object.keys(value);
  if (keys.length === 2 && '__type__' in value && '__value__' in value) {
    const type = value.__type__;
    const decoder =
      typeof type === 'string' && Object.prototype.hasOwnProperty.call(TAG_DECODERS, type)
        ? TAG_DECODERS[type]
        : undefined;
    const decoded = decoder?.(value.__value__);
    if (decoded !== undefined) return decoded;
  }
  for (const key of keys) value[key] = untag(value[key] as WideJsonValue, depth + 1);
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * A strict recursive-descent JSON reader for what JSON.parse cannot do: Python's NaN and
 * Infinity, exact big integers, and a precise position when the text is broken.
 */
class ExactParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly bigint: boolean,
  ) {}

  parseDocument(): WideJsonValue {
    let value: WideJsonValue;
    try {
      value = this.parseValue(0);
    } catch (error) {
      if (error instanceof RangeError) throw new SyntaxError('JSON nested too deeply');
      throw error;
    }
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.pos}`);
  }

  private skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  /** `depth`: how many containers enclose this value (0 for the document). */
  private parseValue(depth: number): WideJsonValue {
    this.skipSpace();
    const t = this.text;
    const c = t[this.pos];
    switch (c) {
      case '{':
        if (depth >= MAX_DEPTH) this.fail(`JSON nested too deeply (more than ${MAX_DEPTH} levels)`);
        return this.parseObject(depth);
      case '[':
        if (depth >= MAX_DEPTH) this.fail(`JSON nested too deeply (more than ${MAX_DEPTH} levels)`);
        return this.parseArray(depth);
      case '"':
        return this.parseString();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case 'N':
        return this.literal('NaN', NaN);
      case 'I':
        return this.literal('Infinity', Infinity);
      case '-':
        if (t.startsWith('-Infinity', this.pos)) return this.literal('-Infinity', -Infinity);
        return this.parseNumber();
      case undefined:
        return this.fail('unexpected end of JSON');
      default:
        if (c >= '0' && c <= '9') return this.parseNumber();
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  private literal<T extends WideJsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return value;
  }

  private parseNumber(): WideJsonValue {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail('invalid number');
    const token = match[0];
    this.pos += token.length;
    const integral = match[1] === undefined && match[2] === undefined;
    if (this.bigint && integral && token.length > 15) {
      const big = BigInt(token);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER))
        return big;
    }
    return Number(token);
  }

  private parseString(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    let escaped = false;
    for (;;) {
      const c = t.charCodeAt(p);
      if (Number.isNaN(c)) {
        this.pos = p;
        this.fail('unterminated string');
      }
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        p += 2;
        continue;
      }
      if (c < 0x20) {
        this.pos = p;
        this.fail('control character in string');
      }
      p++;
    }
    this.pos = p + 1;
    if (!escaped) return t.slice(start + 1, p);
    try {
      return JSON.parse(t.slice(start, p + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail('invalid escape in string');
    }
  }

  private parseArray(depth: number): WideJsonValue[] {
    this.pos++;
    const items: WideJsonValue[] = [];
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.parseValue(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === ']') return items;
      if (c !== ',') {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  private parseObject(depth: number): { [key: string]: WideJsonValue } {
    this.pos++;
    const object: { [key: string]: WideJsonValue } = {};
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return object;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const key = this.parseString();
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      const value = this.parseValue(depth + 1);
      // An own "__proto__" key must stay data, as with JSON.parse, never become the prototype.
      if (key === '__proto__')
        Object.defineProperty(object, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else object[key] = value;
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos++;
      if (c === '}') return object;
      if (c !== ',') {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
    }
  }
}

/** Narrowing helper for decoders: a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
