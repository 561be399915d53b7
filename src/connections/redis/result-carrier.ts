/**
 * Lets a Redis result backend hand its result writes to a consumer of its app's broker on
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

/**
 * The carriers of one Redis broker's consumers. Each broker owns one (never the process:
 * two apps in one process never carry each other's writes); the app hands its broker to
 * its backend (ResultBackend.attachBroker), which writes through these when both talk to
 * the same server and database as the same user.
 */
export class ResultCarriers {
  private readonly carriers: ResultCarrier[] = [];

  constructor(
    /** The broker's server identity (`serverIdentity`). */
    readonly server: string,
  ) {}

  /** Offers `carrier` until the returned function is called. */
  offer(carrier: ResultCarrier): () => void {
    this.carriers.push(carrier);
    return () => {
      const index = this.carriers.indexOf(carrier);
      if (index >= 0) this.carriers.splice(index, 1);
    };
  }

  /** A consumer that will carry writes now, if the broker has one running. */
  current(): ResultCarrier | undefined {
    return this.carriers[0];
  }
}

/** The server and database a connection talks to, as the same user: where writes may be carried. */
export function serverIdentity(connection: RedisOptions): string {
  const where = connection.path ?? `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
  return `${where}/${connection.db ?? 0}/${connection.username ?? ''}`;
}

/** The carriers of `broker` if it is a Redis broker (any broker the app may hand a backend). */
export function carriersOf(broker: object): ResultCarriers | undefined {
  const carriers = (broker as { resultCarriers?: unknown }).resultCarriers;
  return carriers instanceof ResultCarriers ? carriers : undefined;
}
