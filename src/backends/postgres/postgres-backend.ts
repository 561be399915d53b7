/**
 * The PostgreSQL result backend: the shared key-value base (results under Celery's
 * `celery-task-meta-<id>` keys, revocations, the worker registry and beat's store with its
 * leader lease row and fenced run claims) over `PostgresKeyValueStore`, in the schema the
 * URL names. Must never interpret a state or a result.
 */
import type { BackendFactoryOptions } from '../registry.js';
import type { StoreOptions } from '../backend.js';
import type { Broker, Delivery } from '../../brokers/broker.js';
import type { ResultMeta } from '../../protocol/types.js';
import {
  carrierOf,
  databaseIdentity,
  type ResultCarrier,
} from '../../connections/pg/result-carrier.js';
import { KeyValueBackend } from '../key-value/key-value-backend.js';
import {
  parsePostgresUrl,
  tablePrefix,
  type PostgresLocation,
} from '../../connections/pg/pg-url.js';
import { PostgresKeyValueStore } from './postgres-key-value-store.js';

export interface PostgresBackendOptions extends BackendFactoryOptions {
  /** Prefix of the table names inside the schema (`<prefix>kv`, `<prefix>notices`). @default '' */
  keyPrefix?: string | undefined;
  /**
   * Default time to keep results, in ms; expired rows are hidden at once and deleted in
   * batches of 1000 by a housekeeping pass every minute.
   * @default 86400000 (one day, as Celery)
   */
  resultExpiresMs?: number | undefined;
  /** Told about errors the backend recovers from by itself (a dropped LISTEN connection). */
  onError?: ((error: Error) => void) | undefined;
}

export class PostgresBackend extends KeyValueBackend {
  readonly location: PostgresLocation;
  /** The app's PostgreSQL broker on this database, which acks with results (`attachBroker`). */
  private carrier: ResultCarrier | undefined;

  constructor(url: string, options: PostgresBackendOptions = {}) {
    const location = parsePostgresUrl(url);
    super(
      'postgres',
      new PostgresKeyValueStore(location, tablePrefix(options.keyPrefix), options.onError),
      { resultExpiresMs: options.resultExpiresMs },
    );
    this.location = location;
  }

  /**
   * Results ride with the acks of `broker`'s deliveries when it is a PostgreSQL broker on
   * this backend's database (any schema): one statement and one commit per task instead of two.
   */
  attachBroker(broker: Broker): void {
    const carrier = carrierOf(broker);
    this.carrier = carrier?.database === databaseIdentity(this.location) ? carrier : undefined;
  }

  /**
   * The result and the ack in one statement through the attached broker when it issued
   * `delivery`; otherwise `store()`, then `delivery.ack()`.
   */
  storeAndAck(meta: ResultMeta, options: StoreOptions = {}, delivery: Delivery): Promise<void> {
    const kv = this.kv as PostgresKeyValueStore;
    if (this.carrier && kv.ready) {
      const { key, text, ttlMs } = this.resultEntry(meta, options);
      const result = kv.carriedResult(key, text, { ttlMs });
      const acked = result && this.carrier.ackWith(delivery, result);
      if (acked) return acked;
    }
    return this.store(meta, options).then(() => delivery.ack());
  }

  /** Deletes expired results, revocations and old notices now, in batches; returns how many. */
  housekeeping(now?: number): Promise<number> {
    return (this.kv as PostgresKeyValueStore).housekeeping(now);
  }
}

/** The factory the backend registry calls for `postgres://` and `postgresql://` URLs. */
export function createPostgresBackend(
  url: string,
  options: BackendFactoryOptions = {},
): PostgresBackend {
  return new PostgresBackend(url, options);
}
