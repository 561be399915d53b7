/**
 * Redis URLs and connections, shared by the Redis broker and the Redis result backend:
 * parses `redis://`, `rediss://` and `unix://` URLs into ioredis options, opens connections
 * that reconnect on their own, and waits for one to be ready within a bound.
 * Must never log or echo a password: every URL in a message goes through `redactUrl`.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { BrokerConnectionError, CeleriacError } from '../../errors.js';
import { redactUrl } from '../../url.js';

/** What a Redis URL says, split into connection options and Celeriac settings. */
export interface RedisUrlConfig {
  /** ioredis options for every connection opened from this URL (host, port or path, db, auth, tls). */
  connection: RedisOptions;
  /** `?keyPrefix=`: prepended to every key, like kombu's `global_keyprefix`. */
  keyPrefix: string | undefined;
  /** The other query parameters, for the broker or backend to read the ones it knows. */
  params: URLSearchParams;
  /** The URL with its password hidden, for messages and logs. */
  display: string;
}

export class InvalidRedisUrlError extends CeleriacError {
  constructor(url: string, problem: string) {
    super(
      `Invalid Redis URL "${redactUrl(url)}": ${problem}. ` +
        'Use redis://[[user]:password@]host[:port][/db][?keyPrefix=...], rediss://... for TLS, ' +
        'or unix:///path/to/redis.sock[?db=N].',
    );
  }
}

/**
 * Parses a Redis URL.
 * @example parseRedisUrl('redis://:secret@cache.internal:6380/2?keyPrefix=app1:')
 * @example parseRedisUrl('unix:///run/redis/redis.sock?db=1')
 */
export function parseRedisUrl(url: string): RedisUrlConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidRedisUrlError(url, 'it is not a URL');
  }
  const scheme = parsed.protocol.replace(/:$/, '').toLowerCase();
  const params = parsed.searchParams;
  const connection: RedisOptions = {};
  if (scheme === 'unix' || scheme === 'redis+socket') {
    const path = decodeURIComponent(parsed.pathname);
    if (!path || path === '/') throw new InvalidRedisUrlError(url, 'a unix socket URL needs the socket path');
    connection.path = path;
  } else if (scheme === 'redis' || scheme === 'rediss') {
    connection.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    connection.port = parsed.port ? Number(parsed.port) : 6379;
    const dbPath = parsed.pathname.replace(/^\//, '');
    if (dbPath) connection.db = parseDb(url, dbPath);
    if (scheme === 'rediss') connection.tls = { servername: connection.host };
  } else {
    throw new InvalidRedisUrlError(url, `unknown scheme "${scheme}"`);
  }
  if (parsed.username) connection.username = decodeURIComponent(parsed.username);
  if (parsed.password) connection.password = decodeURIComponent(parsed.password);
  const queryPassword = params.get('password');
  if (queryPassword) connection.password = queryPassword;
  const queryDb = params.get('db');
  if (queryDb) connection.db = parseDb(url, queryDb);
  return {
    connection,
    keyPrefix: params.get('keyPrefix') ?? undefined,
    params,
    display: redactUrl(url),
  };
}

function parseDb(url: string, text: string): number {
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0) throw new InvalidRedisUrlError(url, `"${text}" is not a database number`);
  return db;
}

/**
 * Opens a connection that reconnects forever with a capped backoff. Commands sent while it
 * is down wait in ioredis's queue; callers that must not wait forever bound it themselves
 * (see `whenReady`). `lazyConnect` so that creating a broker has no side effects.
 */
export function openConnection(
  config: RedisUrlConfig,
  role: string,
  onError: (error: Error) => void,
  options: { autoPipelining?: boolean } = {},
): Redis {
  const client = new Redis({
    ...config.connection,
    connectionName: `celeriac:${role}`,
    // Commands issued in one event-loop turn leave in one write: many small stores and
    // acks from concurrent tasks cost one syscall, not one each.
    enableAutoPipelining: options.autoPipelining ?? false,
    // A publish waits for its own reply: holding it for the next turn only adds latency.
    autoPipeliningIgnoredCommands: ['lpush'],
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    // Commands cut off by a dropped connection are sent again after the reconnect (ioredis
    // 6 leaves them pending forever when this is off). A publish that times out meanwhile
    // says its outcome is unknown.
    autoResendUnfulfilledCommands: true,
    // Back off to at most one attempt a second: a restarted Redis is found again quickly.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  });
  // Without a listener ioredis prints every reconnect failure; the owner decides what to log.
  client.on('error', (error: Error) => onError(error));
  return client;
}

/** Connects (once) and checks the server is new enough for the commands we use. */
export async function connectChecked(client: Redis, config: RedisUrlConfig): Promise<void> {
  if (client.status === 'wait') {
    try {
      await client.connect();
    } catch (error) {
      throw new BrokerConnectionError(
        `Could not connect to Redis at ${config.display}: ${(error as Error).message}. ` +
          'Check that Redis runs and the URL (host, port, password, db) is right.',
        { cause: error },
      );
    }
  }
  await whenReady(client, 10_000, config.display);
  const info = await client.info('server');
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (version) {
    const [major, minor] = [Number(version[1]), Number(version[2])];
    if (major < 6 || (major === 6 && minor < 2)) {
      throw new CeleriacError(
        `Redis at ${config.display} is version ${major}.${minor}; Celeriac needs 6.2 or later ` +
          '(for RPOP with a count and BLMOVE). Upgrade Redis.',
      );
    }
  }
}

/**
 * Resolves once the connection is ready, or rejects with BrokerConnectionError after
 * `timeoutMs`. Used before a publish so that a publish during an outage either goes out
 * after the reconnect or fails without having been queued for later.
 */
export function whenReady(client: Redis, timeoutMs: number, display: string): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') {
    return Promise.reject(new BrokerConnectionError(`The Redis connection to ${display} is closed.`));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(
        new BrokerConnectionError(
          `Redis at ${display} did not answer within ${timeoutMs} ms (status: ${client.status}). ` +
            'Nothing was sent; retry once Redis is back.',
        ),
      );
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Closes a connection without waiting on a blocked or unanswered command. */
export async function closeConnection(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  client.disconnect(false);
}
