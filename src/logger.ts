/**
 * The logging seam: a pino-compatible `Logger` shape (so users can pass their pino
 * instance) and a default that prints one human-readable line per event, Celery style:
 * `[2026-11-24 17:40:01.123: ERROR/worker] message key=value`.
 * A line is one line: control characters in what it prints (task names, ids and error
 * messages come from the wire) are escaped, so no input can forge a log line.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
/** Structured fields logged with a message (pino's merging object). */
export type LogFields = Record<string, unknown>;

export interface LogFn {
  (message: string): void;
  (fields: LogFields, message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** As pino's: lets hot paths skip building a line nobody will see. */
  isLevelEnabled?(level: string): boolean;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const level = (value ?? '').toLowerCase().replace('warning', 'warn').replace('critical', 'error');
  return level in ORDER ? (level as LogLevel) : fallback;
}

/** A line logger writing to stderr (or any sink), filtering below `level`. */
export function createLineLogger(
  options: { level?: LogLevel; name?: string; write?: (line: string) => void } = {},
): Logger {
  const threshold = ORDER[options.level ?? 'info'];
  const name = options.name ?? 'celeriac';
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const make =
    (level: Exclude<LogLevel, 'silent'>): LogFn =>
    (first: LogFields | string, second?: string) => {
      if (ORDER[level] < threshold) return;
      const [fields, message] =
        typeof first === 'string' ? [undefined, first] : [first, second ?? ''];
      const stamp = new Date().toISOString().replace('T', ' ').replace('Z', '');
      const extra = fields ? formatFields(fields) : '';
      write(`[${stamp}: ${level.toUpperCase()}/${name}] ${escapeLogText(message)}${extra}`);
    };
  return {
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    isLevelEnabled: (level: string) => {
      const known = parseLogLevel(level, 'silent');
      return known !== 'silent' && ORDER[known] >= threshold;
    },
  };
}

function formatFields(fields: LogFields): string {
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text =
      typeof value === 'string'
        ? value
        : value instanceof Error
          ? value.message
          : JSON.stringify(value);
    out += ` ${escapeLogText(key)}=${escapeLogText(/\s/.test(text) ? JSON.stringify(text) : text)}`;
  }
  return out;
}

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text made safe for one log line: newlines, carriage returns, tabs and every other control
 * character (terminal escapes included) become visible escapes (`\n`, `\u001b`).
 */
export function escapeLogText(text: string): string {
  if (!CONTROL.test(text)) return text;
  return text.replace(
    CONTROLS,
    (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
