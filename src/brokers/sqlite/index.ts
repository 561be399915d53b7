/**
 * The SQLite broker's entry, loaded lazily by the broker registry for `sqlite://` URLs.
 * Exports only; must never be imported statically by the core (it pulls better-sqlite3).
 */
export {
  SqliteBroker,
  createSqliteBroker,
  DEFAULT_KEY_PREFIX,
  DEFAULT_LEASE_MS,
} from './sqlite-broker.js';
export type { SqliteBrokerOptions, DeadLetter } from './sqlite-broker.js';
export { UndecodableMessageError } from '../sql/sql-consumer.js';
export { parseSqliteUrl, InvalidSqliteUrlError } from '../../connections/sqlite/sqlite-url.js';
export type { SqliteLocation } from '../../connections/sqlite/sqlite-url.js';
export { SchemaVersionError, SCHEMA_VERSION } from '../../connections/sqlite/database.js';
