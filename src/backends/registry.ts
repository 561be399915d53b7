/**
 * Maps a result-backend URL to its implementation, loaded lazily like brokers are, so a
 * backend's client library is needed only when its URL is used.
 */
import type { ResultBackend } from './backend.js';
import { loadOptionalPeer, schemeOf } from '../url.js';
import { UnsupportedUrlError } from '../errors.js';

export interface BackendFactoryOptions {
  keyPrefix?: string | undefined;
  /** Default time to keep results, in ms. Celery's default: one day. */
  resultExpiresMs?: number | undefined;
  /** The app's `resultExtended`: backends that index tasks for listing only do so when set. */
  resultExtended?: boolean | undefined;
}

export type BackendFactory = (url: string, options: BackendFactoryOptions) => ResultBackend;

const loaders: Record<string, { peer: string | undefined; load: () => Promise<BackendFactory> }> = {
  memory: {
    peer: undefined,
    load: async () => (await import('./memory/index.js')).createMemoryBackend,
  },
  sqlite: {
    peer: 'better-sqlite3',
    load: async () => (await import('./sqlite/index.js')).createSqliteBackend,
  },
  redis: {
    peer: 'ioredis',
    load: async () => (await import('./redis/index.js')).createRedisBackend,
  },
  rediss: {
    peer: 'ioredis',
    load: async () => (await import('./redis/index.js')).createRedisBackend,
  },
  unix: {
    peer: 'ioredis',
    load: async () => (await import('./redis/index.js')).createRedisBackend,
  },
  postgres: {
    peer: 'pg',
    load: async () => (await import('./postgres/index.js')).createPostgresBackend,
  },
  postgresql: {
    peer: 'pg',
    load: async () => (await import('./postgres/index.js')).createPostgresBackend,
  },
  rpc: { peer: 'amqplib', load: async () => (await import('./rpc/index.js')).createRpcBackend },
};

export async function createBackend(
  url: string,
  options: BackendFactoryOptions = {},
): Promise<ResultBackend> {
  const scheme = schemeOf(url);
  const entry = loaders[scheme];
  if (!entry) throw new UnsupportedUrlError('result backend', url, Object.keys(loaders));
  const factory =
    entry.peer === undefined
      ? await entry.load()
      : await loadOptionalPeer(entry.peer, url, entry.load);
  return factory(url, options);
}
