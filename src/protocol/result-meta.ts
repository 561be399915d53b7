/**
 * Task result metas exactly as Celery's key-value result backends (Redis) store them under
 * `celery-task-meta-<id>`, and exceptions as they travel inside them. Python clients must be
 * able to read what our workers write and the other way round.
 * Pure: never imports, evaluates or looks up anything a meta names (exc_module, exc_type).
 *
 * How Python reads an exception we write (celery/backends/base.py `exception_to_python`,
 * identical in 5.2.6 and 5.6.3), and hence what serializeError writes:
 * - It looks the class up with `sys.modules[exc_module]` and `getattr` along the dotted
 *   `exc_type`; it never imports. A module not already imported, or a missing attribute,
 *   gives a class made on the spot: `type(exc_type, (Exception,), {})` in module
 *   `celery.exceptions` (`celery.backends.base` when exc_module is null). So an unknown
 *   type still raises, carrying our name and message, but Python code can only catch it as
 *   `Exception`.
 * - If the name resolves to something that is not an exception class (e.g. a JS class named
 *   `print` under `builtins`), it raises `SecurityError` instead, and that happens on any
 *   meta read for FAILURE/RETRY/REVOKED (even `AsyncResult.state`), not only on `.get()`.
 * - It calls `cls(*exc_message)`; if that raises (a class needing other arguments) it falls
 *   back to `Exception("<class ...>(<args>)")`.
 * So serializeError writes `exc_module: "builtins"` with a type from a fixed allow-list of
 * Python builtin exceptions that take one free-form argument (Error -> Exception,
 * TypeError -> TypeError, RangeError/SyntaxError/URIError -> ValueError, ReferenceError ->
 * NameError, TimeoutError/ETIMEDOUT -> TimeoutError, ENOENT -> FileNotFoundError, ...;
 * a JS class already named like one, e.g. `class ValueError extends Error`, keeps its name),
 * and `exc_message: [message]`. Python then raises e.g. `ValueError('card declined')`,
 * catchable as such; never SystemExit or KeyboardInterrupt. The JS class name goes where
 * Python ignores it: the extra key `exc_js_type` (exception_to_python reads only its three
 * keys) and the last line of the Python-shaped traceback from formatTraceback. Errors that
 * carry their own Celery identity (RemoteTaskError, or any error with string `excType` and
 * `excModule`, e.g. TaskRevokedError in celery.exceptions) are written with it unchanged.
 */
import { inspect } from 'node:util';
import { MalformedResultMetaError } from './errors.js';
import { isJsonObject, parseCeleryJson, pythonJsonWriterInOrder, toPythonJson } from './json.js';
import { pythonRepr } from './repr.js';
import { formatCeleryDate } from './time.js';
import { READY_STATES } from './types.js';
import type { JsonObject, JsonValue, ResultMeta, SerializedError, TaskState } from './types.js';

/** Celery's key order; keys not listed here go after them, `task_id` always last. */
const META_KEY_ORDER = [
  'status',
  'result',
  'traceback',
  'children',
  'date_done',
  'group_id',
  'parent_id',
  'name',
  'args',
  'kwargs',
  'worker',
  'retries',
  'queue',
  'date_started',
] as const;

/** The meta as Python-json text, keys in the order Celery writes them. */
export function encodeResultMeta(meta: ResultMeta): string {
  // Metas a worker writes hold only Celery's keys: written straight in order, no copy made.
  if (hasOnlyCeleryKeys(meta)) return writeInCeleryOrder(meta);
  const ordered: Record<string, JsonValue> = {};
  for (const key of META_KEY_ORDER) {
    const value = meta[key];
    if (value !== undefined) ordered[key] = value;
  }
  for (const key of Object.keys(meta)) {
    const value = meta[key];
    if (value !== undefined && key !== 'task_id' && !(key in ordered)) ordered[key] = value;
  }
  ordered.task_id = meta.task_id;
  return toPythonJson(ordered);
}

/** Celery's key order with `task_id` last, as encodeResultMeta writes a meta. */
const WRITE_ORDER: readonly string[] = [...META_KEY_ORDER, 'task_id'];
const CELERY_KEYS: ReadonlySet<string> = new Set(WRITE_ORDER);
const writeInCeleryOrder = pythonJsonWriterInOrder(WRITE_ORDER);

/** Whether every key of the meta (inherited enumerable ones too) is one of Celery's. */
function hasOnlyCeleryKeys(meta: ResultMeta): boolean {
  for (const key in meta) if (!CELERY_KEYS.has(key)) return false;
  return true;
}

/**
 * Read a meta written by Celery 5.2 to 5.6 (naive or `+00:00` `date_done`, with or without
 * `result_extended` fields) or by the rpc backend (no `date_done`). `children: null`, which
 * 5.6 writes for REVOKED, reads as `[]`.
 * @throws MalformedResultMetaError when the text is not a result meta.
 */
export function decodeResultMeta(text: string): ResultMeta {
  let value: JsonValue;
  try {
    value = parseCeleryJson(text);
  } catch (error) {
    throw new MalformedResultMetaError(`not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (!isJsonObject(value)) throw new MalformedResultMetaError('not a JSON object');
  const fail = (reason: string): never => {
    throw new MalformedResultMetaError(
      typeof value.task_id === 'string' ? `task ${value.task_id}: ${reason}` : reason,
    );
  };
  if (typeof value.status !== 'string' || value.status === '') fail('"status" is missing');
  if (typeof value.task_id !== 'string' || value.task_id === '') fail('"task_id" is missing');
  const traceback = value.traceback ?? null;
  if (traceback !== null && typeof traceback !== 'string')
    fail('"traceback" is not a string or null');
  const children = value.children ?? [];
  if (!Array.isArray(children)) fail('"children" is not a list');
  const dateDone = value.date_done ?? null;
  if (dateDone !== null && typeof dateDone !== 'string')
    fail('"date_done" is not a string or null');
  for (const key of ['group_id', 'parent_id', 'name', 'worker', 'queue', 'date_started'] as const) {
    const field = value[key];
    if (field !== undefined && field !== null && typeof field !== 'string')
      fail(`"${key}" is not a string or null`);
  }
  if (value.args !== undefined && value.args !== null && !Array.isArray(value.args))
    fail('"args" is not a list');
  if (value.kwargs !== undefined && value.kwargs !== null && !isJsonObject(value.kwargs))
    fail('"kwargs" is not an object');
  if (value.retries !== undefined && value.retries !== null && typeof value.retries !== 'number')
    fail('"retries" is not a number');

  const meta = { ...value } as ResultMeta;
  meta.result = value.result ?? null;
  meta.traceback = traceback as string | null;
  meta.children = children as JsonValue[];
  meta.date_done = dateDone as string | null;
  return meta;
}

export interface ResultMetaInput {
  taskId: string;
  status: TaskState;
  /** The return value, the `meta` of a custom state, or a {@link SerializedError}. Default null. */
  result?: JsonValue | SerializedError | undefined;
  traceback?: string | null | undefined;
  children?: JsonValue[] | undefined;
  /** Default: `now` for SUCCESS/FAILURE/REVOKED, null for other states, as Celery does. */
  dateDone?: Date | null | undefined;
  now?: Date | number | undefined;
  /** Written only when set, as Celery does. */
  groupId?: string | null | undefined;
  parentId?: string | null | undefined;
  /** `result_extended` fields. */
  extended?:
    | {
        name: string | null;
        args: JsonValue[] | null;
        kwargs: JsonObject | null;
        worker: string | null;
        retries: number | null;
        queue: string | null;
      }
    | null
    | undefined;
}

/**
 * A meta shaped as Celery 5.6's `_get_result_meta` + `task_id` builds it: the one builder
 * of result metas (the worker's, the backends', the tests'). `date_done` only for the
 * ready states (SUCCESS, FAILURE, REVOKED), null for STARTED, RETRY, PROGRESS and custom
 * states, as Celery stores them.
 */
export function buildResultMeta(input: ResultMetaInput): ResultMeta {
  const dateDone =
    input.dateDone !== undefined
      ? input.dateDone === null
        ? null
        : formatCeleryDate(input.dateDone)
      : READY_STATES.has(input.status)
        ? formatNow(input.now)
        : null;
  const meta: ResultMeta = {
    status: input.status,
    result: input.result ?? null,
    traceback: input.traceback ?? null,
    children: input.children ?? [],
    date_done: dateDone,
    task_id: input.taskId,
  };
  if (input.groupId) meta.group_id = input.groupId;
  if (input.parentId) meta.parent_id = input.parentId;
  if (input.extended) Object.assign(meta, input.extended);
  return meta;
}

// A busy worker stores thousands of results within one millisecond: format each once.
let lastMs = Number.NaN;
let lastText = '';

function formatNow(now: Date | number | undefined): string {
  const ms = now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime();
  if (ms !== lastMs) {
    lastText = formatCeleryDate(new Date(ms));
    lastMs = ms;
  }
  return lastText;
}

/** An exception a task raised on a remote worker (Python or Node), as read from its meta. */
export class RemoteTaskError extends Error {
  /** Python class name, e.g. `ValueError` or `CustomError`; the error's `name` unless a JS worker raised it. */
  readonly excType: string;
  /** Python module, e.g. `builtins`, `tasks`, `celery.exceptions`; null when not given. */
  readonly excModule: string | null;
  /** The exception's args as Python held them. */
  readonly excMessage: JsonValue[];
  /** The remote traceback text, if the worker stored one. */
  readonly traceback: string | null;
  /** The JavaScript class name when a Celeriac worker raised it, else null. */
  readonly jsType: string | null;

  constructor(serialized: SerializedError, traceback: string | null = null) {
    const excMessage = Array.isArray(serialized.exc_message)
      ? serialized.exc_message
      : serialized.exc_message === undefined || serialized.exc_message === null
        ? []
        : [serialized.exc_message as JsonValue];
    super(pythonStr(excMessage));
    this.excType = typeof serialized.exc_type === 'string' ? serialized.exc_type : 'Exception';
    this.excModule = typeof serialized.exc_module === 'string' ? serialized.exc_module : null;
    this.excMessage = excMessage;
    this.traceback = traceback;
    this.jsType = typeof serialized.exc_js_type === 'string' ? serialized.exc_js_type : null;
    // A JS caller reading a JS worker's failure wants the class it threw (CardDeclinedError),
    // not the Python builtin it travelled as; Python errors keep their own name.
    this.name = this.jsType ?? this.excType;
  }

  /** `module.Type` as Python prints it (just `Type` for builtins). */
  get qualifiedType(): string {
    return this.excModule === null || this.excModule === 'builtins'
      ? this.excType
      : `${this.excModule}.${this.excType}`;
  }
}

/** The message for exception args: the first arg when it is a string, else Python's str(exc). */
function pythonStr(args: JsonValue[]): string {
  const [first] = args;
  if (typeof first === 'string') return first;
  if (args.length === 0) return '';
  if (args.length === 1) return pythonRepr(first as JsonValue);
  return pythonRepr(args, { tuple: true });
}

/** Turn a stored `{exc_type, exc_message, exc_module}` back into a throwable error. */
export function deserializeError(
  e: SerializedError,
  traceback: string | null = null,
): RemoteTaskError {
  return new RemoteTaskError(e, traceback);
}

/** Errors may declare their Celery identity, e.g. `{ excType: 'TaskRevokedError', excModule: 'celery.exceptions' }`. */
export interface CeleryExceptionIdentity {
  excType: string;
  excModule: string;
  /** The Python args; default `[message]`. */
  excMessage?: JsonValue[];
}

/**
 * What a thrown value becomes in a FAILURE/RETRY meta so that Python's `AsyncResult.get()`
 * raises an exception carrying our message (see the file header for why these choices).
 */
export function serializeError(error: unknown): SerializedError {
  if (hasCeleryIdentity(error)) {
    const message = error instanceof Error ? error.message : '';
    const out: SerializedError = {
      exc_type: error.excType,
      exc_message: Array.isArray(error.excMessage) ? error.excMessage : [message],
      exc_module: error.excModule,
    };
    if (error instanceof RemoteTaskError && error.jsType !== null) out.exc_js_type = error.jsType;
    return out;
  }
  if (error instanceof Error) {
    const jsType = jsTypeOf(error);
    return {
      exc_type: pythonTypeFor(error, jsType),
      exc_message: [error.message],
      exc_module: 'builtins',
      exc_js_type: jsType,
    };
  }
  return {
    exc_type: 'Exception',
    exc_message: error === undefined ? [] : [plainData(error)],
    exc_module: 'builtins',
  };
}

function hasCeleryIdentity(error: unknown): error is CeleryExceptionIdentity & object {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as Partial<CeleryExceptionIdentity>).excType === 'string' &&
    typeof (error as Partial<CeleryExceptionIdentity>).excModule === 'string'
  );
}

/** A thrown non-Error as an exception argument: itself if it is plain JSON, else its text. */
function plainData(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  try {
    const copy = JSON.parse(JSON.stringify(value)) as JsonValue | undefined;
    if (copy !== undefined) return copy;
  } catch {
    // Not JSON-able (cycle, bigint, function): fall through to a readable description.
  }
  return inspect(value, { depth: 2, breakLength: Infinity });
}

/** JS built-in error classes and the Python builtin each is closest to. */
const JS_TO_PYTHON: Record<string, string> = {
  Error: 'Exception',
  TypeError: 'TypeError',
  RangeError: 'ValueError',
  SyntaxError: 'ValueError',
  URIError: 'ValueError',
  ReferenceError: 'NameError',
  EvalError: 'Exception',
  AggregateError: 'Exception',
  TimeoutError: 'TimeoutError',
  AbortError: 'Exception',
};

/** Node system error codes with a Python builtin counterpart (all OSError subclasses). */
const NODE_CODE_TO_PYTHON: Record<string, string> = {
  ETIMEDOUT: 'TimeoutError',
  ENOENT: 'FileNotFoundError',
  EEXIST: 'FileExistsError',
  EACCES: 'PermissionError',
  EPERM: 'PermissionError',
  EISDIR: 'IsADirectoryError',
  ENOTDIR: 'NotADirectoryError',
  ECONNREFUSED: 'ConnectionRefusedError',
  ECONNRESET: 'ConnectionResetError',
  ECONNABORTED: 'ConnectionAbortedError',
  EPIPE: 'BrokenPipeError',
};

/**
 * Python builtin exceptions that accept one free-form argument and are safe to raise in
 * a client: no BaseException-only classes (SystemExit, KeyboardInterrupt, GeneratorExit),
 * no StopIteration, no Unicode*Error subclasses (they need five arguments), no warnings.
 */
const PYTHON_BUILTINS: ReadonlySet<string> = new Set([
  'Exception',
  'ArithmeticError',
  'AssertionError',
  'AttributeError',
  'BlockingIOError',
  'BrokenPipeError',
  'BufferError',
  'ChildProcessError',
  'ConnectionAbortedError',
  'ConnectionError',
  'ConnectionRefusedError',
  'ConnectionResetError',
  'EOFError',
  'FileExistsError',
  'FileNotFoundError',
  'FloatingPointError',
  'ImportError',
  'IndexError',
  'InterruptedError',
  'IsADirectoryError',
  'KeyError',
  'LookupError',
  'MemoryError',
  'ModuleNotFoundError',
  'NameError',
  'NotADirectoryError',
  'NotImplementedError',
  'OSError',
  'OverflowError',
  'PermissionError',
  'ProcessLookupError',
  'RecursionError',
  'RuntimeError',
  'SystemError',
  'TimeoutError',
  'TypeError',
  'UnboundLocalError',
  'UnicodeError',
  'ValueError',
  'ZeroDivisionError',
]);

const GENERIC_CONSTRUCTORS = new Set(['Error', 'DOMException', 'Object', '']);

/**
 * The JS class name worth showing: an own `name`, else the constructor's, else `name`
 * (`class NetworkError extends Error {}` is `NetworkError`, though its `name` is `Error`).
 */
export function jsTypeOf(error: Error): string {
  if (
    Object.prototype.hasOwnProperty.call(error, 'name') &&
    typeof error.name === 'string' &&
    error.name !== ''
  )
    return error.name;
  const constructorName = (error.constructor as { name?: unknown } | undefined)?.name;
  if (typeof constructorName === 'string' && !GENERIC_CONSTRUCTORS.has(constructorName))
    return constructorName;
  return typeof error.name === 'string' && error.name !== '' ? error.name : 'Error';
}

function pythonTypeFor(error: Error, jsType: string): string {
  const candidates = [jsType, error.name];
  for (
    let proto: unknown = Object.getPrototypeOf(error);
    proto !== null && proto !== undefined;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string') candidates.push(name);
  }
  for (const name of candidates) {
    if (GENERIC_CONSTRUCTORS.has(name)) continue;
    const mapped = Object.prototype.hasOwnProperty.call(JS_TO_PYTHON, name)
      ? JS_TO_PYTHON[name]
      : undefined;
    if (mapped !== undefined) return mapped;
    if (PYTHON_BUILTINS.has(name)) return name;
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && Object.prototype.hasOwnProperty.call(NODE_CODE_TO_PYTHON, code))
    return NODE_CODE_TO_PYTHON[code] as string;
  return 'Exception';
}

const V8_FRAME = /^\s*at (?:(?:async )?(?:new )?(.+?) \()?(.+?):(\d+):\d+\)?$/;

/**
 * A JS error's stack as a Python traceback, for the meta's `traceback` field. Python
 * clients with `task_remote_tracebacks` parse that field with tblib, which raises
 * TracebackParseError (instead of the task's exception) on anything without the
 * `Traceback (most recent call last):` header and at least one `File "...", line N` frame.
 * The last line names the JS class: `PaymentDeclined: card declined`.
 */
export function formatTraceback(error: unknown): string {
  const jsType = error instanceof Error ? jsTypeOf(error) : 'Exception';
  const message = error instanceof Error ? error.message : String(error);
  const frames: string[] = [];
  const stack = error instanceof Error && typeof error.stack === 'string' ? error.stack : '';
  for (const line of stack.split('\n')) {
    const m = V8_FRAME.exec(line);
    if (m === null) continue;
    const [, fn, file = '?', lineNo = '0'] = m;
    const path = file.startsWith('file://')
      ? decodeURIComponent(file.slice('file://'.length))
      : file;
    frames.push(`  File "${path}", line ${lineNo}, in ${fn ?? '<module>'}`);
  }
  if (frames.length === 0) frames.push('  File "<unknown>", line 0, in <unknown>');
  frames.reverse();
  const last = message === '' ? jsType : `${jsType}: ${message}`;
  return `Traceback (most recent call last):\n${frames.join('\n')}\n${last}\n`;
}
