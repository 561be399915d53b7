/**
 * The PostgreSQL result backend's entry, loaded lazily by the backend registry for
 * `postgres://` and `postgresql://` URLs. Exports only; must never be imported statically
 * by the core (it pulls pg).
 */
export { PostgresBackend, createPostgresBackend } from './postgres-backend.js';
export type { PostgresBackendOptions } from './postgres-backend.js';
export { PostgresKeyValueStore } from './postgres-key-value-store.js';
