/**
 * Python reprs of JSON values, for the `argsrepr`/`kwargsrepr` headers (what Flower, events
 * and `celery inspect` show) and for Python-style exception text in tracebacks.
 *
 * Two flavours, because Celery uses two:
 * - {@link saferepr} reproduces `celery.utils.saferepr.saferepr`, which builds argsrepr and
 *   kwargsrepr: nesting past 3 levels prints as `[...]`, output is cut near 1024 characters,
 *   and strings are always single-quoted with only `'` escaped (not Python's repr rules).
 * - {@link pythonRepr} is Python's builtin `repr()`: quote choice and escapes included.
 * Pure string building; it must never throw on any JSON value.
 */
import type { JsonObject } from './types.js';
import type { WideJsonValue } from './json.js';
import { pythonNumberText } from './python-number.js';

/** Celery's `argsrepr_maxsize` and `kwargsrepr_maxsize` (celery/app/amqp.py). */
export const REPR_MAX_SIZE = 1024;
/** saferepr's default `maxlevels`. */
export const REPR_MAX_LEVELS = 3;

// Deeper than this only a circular structure gets; it is shown as `...`.
const MAX_DEPTH = 1000;

export interface SafereprOptions {
  /** Python's `maxlen`: the output is cut once about this many characters were written. `null`: no limit. Default `null`. */
  maxlen?: number | null;
  /** Containers nested this deep print as `[...]`. `0` or `null`: no limit. Default 3. */
  maxlevels?: number | null;
  /** Show a top-level array as a Python tuple, `(1, 2)` and `(1,)`, as Celery does for args. Default false. */
  tuple?: boolean;
}

/**
 * `argsrepr` as `Task.apply_async` writes it: args are a tuple, so `(2, 3)`, `(1,)`, `()`.
 * Pass `{ tuple: false }` for what `app.send_task(name, args=[...])` writes (`[1, 2]`).
 */
export function argsRepr(
  args: readonly WideJsonValue[],
  options: { tuple?: boolean } = {},
): string {
  return saferepr(args as WideJsonValue[], {
    maxlen: REPR_MAX_SIZE,
    maxlevels: REPR_MAX_LEVELS,
    tuple: options.tuple ?? true,
  });
}

/** `kwargsrepr` as Celery writes it, e.g. `{'k': [3, {'x': None}]}`. */
export function kwargsRepr(kwargs: JsonObject | { [key: string]: WideJsonValue }): string {
  return saferepr(kwargs, { maxlen: REPR_MAX_SIZE, maxlevels: REPR_MAX_LEVELS });
}

const enum Kind {
  Open,
  Close,
  Separator,
  Key,
  Quoted,
  Text,
}

/** Celery's saferepr of a JSON value; see the file header for how it differs from repr(). */
export function saferepr(value: WideJsonValue, options: SafereprOptions = {}): string {
  const writer = new SafeWriter(
    options.maxlen ?? null,
    options.maxlevels === undefined ? REPR_MAX_LEVELS : options.maxlevels,
  );
  writer.value(value, 0, options.tuple === true);
  return writer.finish();
}

/**
 * Replays saferepr's token stream: every token spends the budget by its length; once the
 * budget is spent, the next token is dropped, `, ...` is written and then only the closing
 * brackets of the containers still open.
 */
class SafeWriter {
  private out = '';
  private budget: number | null;
  private stopped = false;
  private readonly open: string[] = [];

  constructor(
    maxlen: number | null,
    private readonly maxlevels: number | null,
  ) {
    this.budget = maxlen;
  }

  finish(): string {
    return this.out;
  }

  value(v: WideJsonValue | undefined, depth: number, asTuple = false): void {
    if (this.stopped) return;
    if (typeof v === 'string') {
      this.token(Kind.Quoted, v);
      return;
    }
    if (typeof v !== 'object' || v === null) {
      this.token(Kind.Text, scalarRepr(v));
      return;
    }
    if (Array.isArray(v)) {
      const [start, end] = asTuple ? ['(', v.length === 1 ? ',)' : ')'] : ['[', ']'];
      if (this.tooDeep(depth)) {
        this.token(Kind.Text, `${start}...${end}`);
        return;
      }
      this.token(Kind.Open, start, end);
      for (let i = 0; i < v.length && !this.stopped; i++) {
        this.value(v[i], depth + 1);
        if (i < v.length - 1) this.token(Kind.Separator, ', ');
      }
      this.token(Kind.Close, end);
      return;
    }
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      this.value((v as unknown as { toJSON: () => WideJsonValue }).toJSON(), depth);
      return;
    }
    if (this.tooDeep(depth)) {
      this.token(Kind.Text, '{...}');
      return;
    }
    this.token(Kind.Open, '{', '}');
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    for (let i = 0; i < keys.length && !this.stopped; i++) {
      const key = keys[i] as string;
      this.token(Kind.Key, key);
      this.token(Kind.Separator, ': ');
      this.value(v[key], depth + 1);
      if (i < keys.length - 1) this.token(Kind.Separator, ', ');
    }
    this.token(Kind.Close, '}');
  }

  private tooDeep(depth: number): boolean {
    return (
      depth >= MAX_DEPTH ||
      (this.maxlevels !== null && this.maxlevels > 0 && depth >= this.maxlevels)
    );
  }

  private token(kind: Kind, text: string, closer = ''): void {
    if (this.stopped) return;
    if (this.budget !== null && this.budget <= 0) {
      // The token pulled when the budget ran out is lost, but an opened container still closes.
      if (kind === Kind.Open) this.open.push(closer);
      else if (kind === Kind.Close) this.open.pop();
      this.stopped = true;
      this.out += ', ...';
      for (let i = this.open.length - 1; i >= 0; i--) this.out += this.open[i];
      return;
    }
    let piece: string;
    switch (kind) {
      case Kind.Open:
        this.open.push(closer);
        piece = text;
        break;
      case Kind.Close:
        this.open.pop();
        piece = text;
        break;
      case Kind.Separator:
        piece = text;
        break;
      case Kind.Key:
      case Kind.Quoted:
        piece = `'${truncate(text, this.budget).replace(/'/g, "\\'")}'`;
        break;
      case Kind.Text:
        piece = truncate(text, this.budget);
        break;
    }
    this.out += piece;
    if (this.budget !== null) this.budget -= codePointLength(piece);
  }
}

function scalarRepr(v: WideJsonValue | undefined): string {
  switch (typeof v) {
    case 'string':
      return pythonStringRepr(v);
    case 'number':
      return pythonNumberText(v, 'repr');
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'True' : 'False';
    case 'object':
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'None';
  }
}

/** celery.utils.text.truncate: cut at `maxlen` code points, back to the last space, add `...`. */
function truncate(text: string, maxlen: number | null): string {
  if (maxlen === null || maxlen <= 0) return text;
  if (codePointLength(text) < maxlen) return text;
  const head = sliceCodePoints(text, maxlen);
  const space = head.lastIndexOf(' ');
  return `${space === -1 ? head : head.slice(0, space)}...`;
}

const HIGH_SURROGATE = /[\ud800-\udbff]/;

/** Python's len(str): code points, so a surrogate pair counts once. */
function codePointLength(text: string): number {
  if (!HIGH_SURROGATE.test(text)) return text.length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function sliceCodePoints(text: string, count: number): string {
  if (!HIGH_SURROGATE.test(text)) return text.slice(0, count);
  let out = '';
  let n = 0;
  for (const ch of text) {
    if (n++ >= count) break;
    out += ch;
  }
  return out;
}

/**
 * Python's builtin `repr()` of a JSON value: `None`, `True`, `1.5`, `'it'`, `"it's"`,
 * `[1, 2]`, `{'k': 'v'}`; with `{ tuple: true }` a top-level array prints as a tuple,
 * e.g. an exception's args: `('custom failure', 7)`.
 */
export function pythonRepr(value: WideJsonValue, options: { tuple?: boolean } = {}): string {
  return reprValue(value, 0, options.tuple === true);
}

function reprValue(v: WideJsonValue | undefined, depth: number, asTuple = false): string {
  if (typeof v === 'string') return pythonStringRepr(v);
  if (typeof v !== 'object' || v === null) return scalarRepr(v);
  if (depth >= MAX_DEPTH) return '...';
  if (Array.isArray(v)) {
    const inner = v.map((item) => reprValue(item, depth + 1)).join(', ');
    if (!asTuple) return `[${inner}]`;
    return v.length === 1 ? `(${inner},)` : `(${inner})`;
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    return reprValue((v as unknown as { toJSON: () => WideJsonValue }).toJSON(), depth);
  }
  const parts: string[] = [];
  for (const key of Object.keys(v)) {
    const item = v[key];
    if (item !== undefined) parts.push(`${pythonStringRepr(key)}: ${reprValue(item, depth + 1)}`);
  }
  return `{${parts.join(', ')}}`;
}

// Python's str.isprintable() is false for these categories (space excepted, handled apart).
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's repr(str): single quotes unless the text has `'` and no `"`; Python's escapes. */
export function pythonStringRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${hex(c, 2)}`;
    else if (c < 0x7f) out += ch;
    else if (!NOT_PRINTABLE.test(ch)) out += ch;
    else if (c <= 0xff) out += `\\x${hex(c, 2)}`;
    else if (c <= 0xffff) out += `\\u${hex(c, 4)}`;
    else out += `\\U${hex(c, 8)}`;
  }
  return out + quote;
}

function hex(c: number, width: number): string {
  return c.toString(16).padStart(width, '0');
}
