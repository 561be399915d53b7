/**
 * Turns a `sqlite://` URL into the file SQLite opens. Shared by the SQLite broker and the
 * SQLite result backend. Pure: must never touch the file system beyond resolving a path.
 *
 *   sqlite://./celeriac.db     relative to the current directory
 *   sqlite:///abs/path.db      absolute
 *   sqlite://:memory:          one in-memory database shared by this process only
 */
import path from 'node:path';
import { CeleriacError } from '../../errors.js';
import { redactUrl } from '../../url.js';

export interface SqliteLocation {
  /** Absolute file path, or `:memory:`. */
  readonly filename: string;
  readonly memory: boolean;
}

export class InvalidSqliteUrlError extends CeleriacError {
  constructor(url: string, why: string) {
    super(
      `Invalid SQLite URL "${redactUrl(url)}": ${why}. Use sqlite://./celeriac.db (relative), ` +
        `sqlite:///abs/path.db (absolute) or sqlite://:memory: (one process only).`,
    );
  }
}

export function parseSqliteUrl(url: string): SqliteLocation {
  const match = /^sqlite:\/\/(.*)$/i.exec(url);
  if (!match) throw new InvalidSqliteUrlError(url, 'it must start with sqlite://');
  // Query strings are reserved for future options; the path is what precedes them.
  const raw = decodeURIComponent((match[1] ?? '').split('?')[0] ?? '');
  if (raw === ':memory:') return { filename: ':memory:', memory: true };
  if (raw === '' || raw === '/') throw new InvalidSqliteUrlError(url, 'it names no database file');
  return { filename: path.resolve(raw), memory: false };
}
