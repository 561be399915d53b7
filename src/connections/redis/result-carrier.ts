/**
 * Lets a Redis result backend hand its result writes to a consumer of the same process on
 * the same Redis server, which sends them in its next fetch-script call: the results of
 * the tasks that just ended, the acks of those stored before and the next claim go in one
 * round trip (as BullMQ's moveToFinished stores, completes and fetches in one), instead of
 * one call for the stores and one for the rest.
 * Must never change what is written: a carried write runs the same Lua as a store of the
 * backend's own, and resolves only once Redis ran it.
 */
import type { RedisOptions } from 'ioredis';

/** One result meta to write: SET with expiry and PUBLISH on the key, unless a SUCCESS is stored. */
export interface ResultWrite {
  key: string;
  expiresMs: number;
  text: string;
}

/** How a carried write reports back: once, by one of the three. */
export interface CarriedWrite extends ResultWrite {
  /** Redis ran it. */
  done(): void;
  /** The call carrying it failed, as a store of the backend's own would have. */
  fail(error: Error): void;
  /** The consumer stopped before sending it: the backend writes it itself. */
  giveBack(): void;
}

export interface ResultCarrier {
  /** Sends the write with this consumer's next call. */
  carry(write: CarriedWrite): void;
}

const carriers = new Map<string, ResultCarrier[]>();

/** The server and database a connection talks to, as the same user: where writes may be carried. */
export function serverIdentity(connection: RedisOptions): string {
  const where = connection.path ?? `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
  return `${where}/${connection.db ?? 0}/${connection.username ?? ''}`;
}

/** Offers `carrier` for writes to `identity` until the returned function is called. */
export function offerCarrier(identity: string, carrier: ResultCarrier): () => void {
  const list = carriers.get(identity) ?? [];
  list.push(carrier);
  carriers.set(identity, list);
  return () => {
    const index = list.indexOf(carrier);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0 && carriers.get(identity) === list) carriers.delete(identity);
  };
}

/** A consumer that will carry writes to `identity`, if this process has one. */
export function carrierFor(identity: string): ResultCarrier | undefined {
  return carriers.get(identity)?.[0];
}
