/**
 * The SQLite result backend's entry, loaded lazily by the backend registry for
 * `sqlite://` URLs. Exports only; must never be imported statically by the core.
 */
export { SqliteBackend, createSqliteBackend, DEFAULT_RESULT_EXPIRES_MS } from './sqlite-backend.js';
export type { SqliteBackendOptions } from './sqlite-backend.js';
