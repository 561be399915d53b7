/**
 * Maps a broker URL to its implementation, loading the implementation (and so its client
 * library) only when that URL is used. Must never import a broker folder statically:
 * a user of `redis://` should not need better-sqlite3 installed, and the other way round.
 */
import type { Broker } from './broker.js';
import { loadOptionalPeer, schemeOf } from '../url.js';
import { UnsupportedUrlError } from '../errors.js';

/** Options every broker factory accepts; brokers read the ones that apply to them. */
export interface BrokerFactoryOptions {
  /** Prefix for every key, table or queue name the broker creates (isolation, multi-tenant). */
  keyPrefix?: string | undefined;
  /**
   * How long a delivery stays owned by a consumer without a heartbeat before the broker
   * hands it to another. The live consumer renews it, so long tasks are never doubled.
   * Default 30 000 ms.
   */
  leaseMs?: number | undefined;
}

export type BrokerFactory = (url: string, options: BrokerFactoryOptions) => Broker;

const loaders: Record<string, { peer: string | undefined; load: () => Promise<BrokerFactory> }> = {
  memory: {
    peer: undefined,
    load: async () => (await import('./memory/index.js')).createMemoryBroker,
  },
  sqlite: {
    peer: 'better-sqlite3',
    load: async () => (await import('./sqlite/index.js')).createSqliteBroker,
  },
  redis: {
    peer: 'ioredis',
    load: async () => (await import('./redis/index.js')).createRedisBroker,
  },
  rediss: {
    peer: 'ioredis',
    load: async () => (await import('./redis/index.js')).createRedisBroker,
  },
  unix: { peer: 'ioredis', load: async () => (await import('./redis/index.js')).createRedisBroker },
  amqp: { peer: 'amqplib', load: async () => (await import('./amqp/index.js')).createAmqpBroker },
  amqps: { peer: 'amqplib', load: async () => (await import('./amqp/index.js')).createAmqpBroker },
  postgres: {
    peer: 'pg',
    load: async () => (await import('./postgres/index.js')).createPostgresBroker,
  },
  postgresql: {
    peer: 'pg',
    load: async () => (await import('./postgres/index.js')).createPostgresBroker,
  },
};

export async function createBroker(
  url: string,
  options: BrokerFactoryOptions = {},
): Promise<Broker> {
  const scheme = schemeOf(url);
  const entry = loaders[scheme];
  if (!entry) throw new UnsupportedUrlError('broker', url, Object.keys(loaders));
  const factory =
    entry.peer === undefined
      ? await entry.load()
      : await loadOptionalPeer(entry.peer, url, entry.load);
  return factory(url, options);
}
