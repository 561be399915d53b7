/**
 * The PostgreSQL broker's entry, loaded lazily by the broker registry for `postgres://`
 * and `postgresql://` URLs. Exports only; must never be imported statically by the core
 * (it pulls pg).
 */
export {
  PostgresBroker,
  createPostgresBroker,
  TransactionClientError,
  DEFAULT_LEASE_MS,
  DEFAULT_POLL_MS,
  DEFAULT_DEAD_LETTER_RETENTION_MS,
} from './postgres-broker.js';
export type { PostgresBrokerOptions, PostgresDeadLetter } from './postgres-broker.js';
export { UndecodableMessageError } from '../sql/sql-consumer.js';
export {
  parsePostgresUrl,
  InvalidPostgresUrlError,
  DEFAULT_SCHEMA,
} from '../../connections/pg/pg-url.js';
export type { PostgresLocation } from '../../connections/pg/pg-url.js';
export type { Queryable, QueryResultLike } from '../../connections/pg/db-client.js';
export { SchemaVersionError } from '../../connections/pg/migrations.js';
