/**
 * Opens SQLite connections configured for several processes sharing one file (WAL,
 * synchronous=NORMAL, a busy timeout) and creates schemas idempotently under a
 * `user_version` layout number. Shared by the SQLite broker and result backend; this
 * folder and backends/sqlite are the only places allowed to import better-sqlite3.
 * Must never hold a transaction open across an `await`: better-sqlite3 is synchronous and
 * a long write transaction would block every other process.
 */
import Database from 'better-sqlite3';
import { BrokerConnectionError, CeleriacError } from '../../errors.js';
import type { SqliteLocation } from './sqlite-url.js';

export type Db = Database.Database;

/**
 * The layout number written to `PRAGMA user_version`. Bump it with a migration step in
 * `ensureSchema` whenever a table changes; a file written by a newer layout is refused.
 */
export const SCHEMA_VERSION = 1;

/** How long a statement waits for another process's write lock before failing (ms). */
const BUSY_TIMEOUT_MS = 5000;

export interface DbHandle {
  readonly db: Db;
  readonly location: SqliteLocation;
  /** Closes the connection (the shared in-memory one when its last user releases it). */
  release(): void;
}

/** `sqlite://:memory:` is one database per process: every user shares this connection. */
let sharedMemory: { db: Db; users: number } | undefined;

export function openDatabase(location: SqliteLocation): DbHandle {
  if (location.memory) {
    sharedMemory ??= { db: configure(new Database(':memory:'), true), users: 0 };
    const shared = sharedMemory;
    shared.users += 1;
    let released = false;
    return {
      db: shared.db,
      location,
      release() {
        if (released) return;
        released = true;
        shared.users -= 1;
        if (shared.users === 0) {
          shared.db.close();
          if (sharedMemory === shared) sharedMemory = undefined;
        }
      },
    };
  }
  let db: Db;
  try {
    db = openFile(location.filename);
  } catch (error) {
    throw new BrokerConnectionError(
      `Could not open the SQLite database "${location.filename}": ${(error as Error).message}. ` +
        `Check that its folder exists and is writable.`,
      { cause: error },
    );
  }
  let released = false;
  return {
    db,
    location,
    release() {
      if (released) return;
      released = true;
      db.close();
    },
  };
}

/**
 * Opens and configures a file connection. Setting WAL can answer SQLITE_BUSY without
 * waiting in the busy handler (SQLite does not wait where it could deadlock, e.g. while
 * another connection holds the file's lock to check or recover it): seen once with three
 * beat replicas opening one fresh file together under a loaded full test run. So a busy
 * open is tried again, with a short backoff, for as long as a statement would wait.
 */
function openFile(filename: string): Db {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS });
    try {
      return configure(db, false);
    } catch (error) {
      db.close();
      const code = (error as { code?: unknown }).code;
      const busy =
        typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code === 'SQLITE_LOCKED');
      if (!busy || Date.now() + pause > deadline) throw error;
      // Opening is synchronous (the contracts' open is): wait without spinning the CPU.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}

/** Prepares each SQL text once per connection and hands back the same statement after. */
export function statementCache(db: Db): (text: string) => Database.Statement<unknown[], unknown> {
  const statements = new Map<string, Database.Statement<unknown[], unknown>>();
  return (text) => {
    let statement = statements.get(text);
    if (!statement) {
      statement = db.prepare(text);
      statements.set(text, statement);
    }
    return statement;
  };
}

/**
 * Opens the file and builds `create(handle)` on it (a store that creates its schema),
 * releasing the connection again if that throws, so a failed open leaks nothing.
 */
export function openWith<T>(
  location: SqliteLocation,
  create: (handle: DbHandle) => T,
): { handle: DbHandle; value: T } {
  const handle = openDatabase(location);
  try {
    return { handle, value: create(handle) };
  } catch (error) {
    handle.release();
    throw error;
  }
}

/** Runs a synchronous open as a promise, as the async broker and backend contracts want. */
export function openAsPromise(open: () => void): Promise<void> {
  try {
    open();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function configure(db: Db, memory: boolean): Db {
  if (!memory) {
    // WAL lets readers and one writer work at once across processes; NORMAL skips the
    // fsync per commit (a commit survives a process crash, not a power loss) for speed.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

export class SchemaVersionError extends CeleriacError {
  constructor(filename: string, found: number) {
    super(
      `The SQLite database "${filename}" has Celeriac layout ${found}, newer than this version ` +
        `understands (${SCHEMA_VERSION}). Upgrade celeriac in this process, or use another file.`,
    );
  }
}

/**
 * Runs `CREATE ... IF NOT EXISTS` statements and records the layout number, in one
 * `BEGIN IMMEDIATE` transaction so processes starting together do not race.
 */
export function ensureSchema(handle: DbHandle, statements: readonly string[]): void {
  const { db } = handle;
  db.transaction(() => {
    const found = Number(db.pragma('user_version', { simple: true }));
    if (found > SCHEMA_VERSION) throw new SchemaVersionError(handle.location.filename, found);
    for (const statement of statements) db.exec(statement);
    // Layout 1 is the first: later layouts add their migration steps here, keyed by `found`.
    if (found < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * A quoted table name from a key prefix. Characters other than letters, digits and `_`
 * become `_`, so a prefix written for Redis (`myapp:`) still works here and nothing a
 * user configures can reach the SQL text.
 */
export function tableName(prefix: string, name: string): string {
  return `"${prefix.replace(/[^A-Za-z0-9_]/g, '_')}${name}"`;
}
