/**
 * Lets a PostgreSQL result backend hand a task's result to its app's PostgreSQL broker on
 * the same database, which writes it in the statement that acks the task's message: one
 * round trip and one commit for both (ResultBackend.storeAndAck), instead of a store and
 * then an ack. The commit makes the two atomic, so an ack never commits without its result.
 * What both drivers agree on, without importing each other: the result's row and
 * notification as the backend would write them, and the table and channel they go to.
 * Must never change what is written: a carried result is the row and NOTIFY payload the
 * backend's own store would have written.
 */
import type { PostgresLocation } from './pg-url.js';

/** Where carried results go: a table `(key text primary key, value text, expires_at bigint)` and a NOTIFY channel. */
export interface ResultTarget {
  /** The qualified table name (checked identifiers, quoted). */
  readonly table: string;
  readonly channel: string;
}

/** One result to write with an ack. */
export interface CarriedResult {
  readonly target: ResultTarget;
  readonly key: string;
  readonly value: string;
  /** Unix ms; 0 = never. */
  readonly expiresAt: number;
  /** `[channel, message]` as JSON: one element of a batch notification, within NOTIFY's size. */
  readonly payload: string;
}

/** A broker's side: acks a delivery it issued together with a result. */
export interface ResultCarrier {
  /** The database the broker writes to (`databaseIdentity`). */
  readonly database: string;
  /**
   * Acks `delivery` and writes `result` in one statement, resolving once committed; or
   * undefined when this broker did not issue the delivery (or is closed): store, then ack.
   * A rejection means nothing was written and the delivery is still to be settled.
   */
  ackWith(delivery: object, result: CarriedResult): Promise<void> | undefined;
}

/** The server, database and user a location connects to: where one statement can reach both drivers' tables. */
export function databaseIdentity(location: PostgresLocation): string {
  const url = new URL(location.connectionString);
  return `${url.hostname}:${url.port || '5432'}/${decodeURIComponent(url.pathname.slice(1))}/${decodeURIComponent(url.username)}`;
}

/** The carrier of `broker` when it is a PostgreSQL broker (any broker the app may hand a backend). */
export function carrierOf(broker: object): ResultCarrier | undefined {
  const carrier = (broker as { resultCarrier?: ResultCarrier }).resultCarrier;
  return carrier && typeof carrier.ackWith === 'function' ? carrier : undefined;
}

/** NOTIFY carries at most 8000 bytes; larger payloads travel through the backend's notices table. */
export const MAX_NOTIFY_BYTES = 7900;

/**
 * The `[channel, message]` entries (JSON text, each within one NOTIFY) as few batch
 * payloads `[[...],[...]]` as NOTIFY's size allows, in order.
 */
export function batchPayloads(entries: readonly string[]): string[] {
  const payloads: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry) + 1;
    if (current.length > 0 && bytes + size > MAX_NOTIFY_BYTES) {
      payloads.push(`[${current.join(',')}]`);
      current = [];
      bytes = 2;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) payloads.push(`[${current.join(',')}]`);
  return payloads;
}
