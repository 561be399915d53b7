/**
 * Redis URLs and connections, shared by the Redis broker and the Redis result backend:
 * parses `redis://`, `rediss://` and `unix://` URLs into ioredis options, opens connections
 * that reconnect on their own, and waits for one to be ready within a bound.
 * Must never log or echo a password: every URL in a message goes through `redactUrl`.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
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
        'Use redis://[[user]:password@]host[:port][/db][?keyPrefix=...], ' +
        'rediss://...[?ssl_ca_certs=/path/ca.pem&ssl_certfile=...&ssl_keyfile=...&ssl_cert_reqs=required] for TLS, ' +
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
    if (!path || path === '/')
      throw new InvalidRedisUrlError(url, 'a unix socket URL needs the socket path');
    connection.path = path;
  } else if (scheme === 'redis' || scheme === 'rediss') {
    connection.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    connection.port = parsed.port ? Number(parsed.port) : 6379;
    const dbPath = parsed.pathname.replace(/^\//, '');
    if (dbPath) connection.db = parseDb(url, dbPath);
    if (scheme === 'rediss') connection.tls = tlsOptions(url, connection.host, params);
  } else {
    throw new InvalidRedisUrlError(url, `unknown scheme "${scheme}"`);
  }
  if (!connection.tls) refuseTlsParams(url, params);
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

/**
 * TLS settings from kombu's (and redis-py's) query parameter names, so a `rediss://` URL
 * written for Celery works unchanged: `ssl_ca_certs` (a PEM file of CAs to trust instead of
 * Node's bundled ones), `ssl_certfile` and `ssl_keyfile` (a client certificate, for Redis's
 * `tls-auth-clients`), `ssl_cert_reqs` (`required`, `optional` or `none`, with or without
 * Python's `CERT_` prefix). Files are read here, so a wrong path fails when the broker or
 * backend is created, not at the first reconnect.
 */
function tlsOptions(url: string, host: string, params: URLSearchParams): ConnectionOptions {
  // SNI carries host names only: Node warns (DEP0123) when given an IP address, and checks
  // the certificate against the IP by itself.
  const tls: ConnectionOptions = isIP(host) ? {} : { servername: host };
  const reqs = params.get('ssl_cert_reqs');
  if (reqs !== null) tls.rejectUnauthorized = verifiesCertificate(url, reqs);
  const caFile = params.get('ssl_ca_certs');
  if (caFile) tls.ca = readPem(url, 'ssl_ca_certs', caFile);
  const certFile = params.get('ssl_certfile');
  const keyFile = params.get('ssl_keyfile');
  if (keyFile && !certFile)
    throw new InvalidRedisUrlError(
      url,
      'ssl_keyfile needs ssl_certfile (the certificate it goes with)',
    );
  if (certFile) {
    tls.cert = readPem(url, 'ssl_certfile', certFile);
    // As in Python's ssl module, the key may sit in the certificate's own file.
    tls.key = keyFile ? readPem(url, 'ssl_keyfile', keyFile) : tls.cert;
  }
  return tls;
}

/** Python's CERT_OPTIONAL checks a server's certificate just as CERT_REQUIRED does. */
function verifiesCertificate(url: string, value: string): boolean {
  const level = value.toLowerCase().replace(/^cert_/, '');
  if (level === 'required' || level === 'optional') return true;
  if (level === 'none') return false;
  throw new InvalidRedisUrlError(
    url,
    `ssl_cert_reqs=${value} is not one of required, optional, none`,
  );
}

function readPem(url: string, param: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InvalidRedisUrlError(
      url,
      `${param}: cannot read "${file}" (${(error as Error).message})`,
    );
  }
}

/** TLS settings on a plain URL would be silently ignored: the user meant `rediss://`. */
function refuseTlsParams(url: string, params: URLSearchParams): void {
  const given = ['ssl_cert_reqs', 'ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile'].filter((name) =>
    params.has(name),
  );
  if (given.length)
    throw new InvalidRedisUrlError(url, `${given.join(', ')} only apply to rediss:// (TLS) URLs`);
}

function parseDb(url: string, text: string): number {
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0)
    throw new InvalidRedisUrlError(url, `"${text}" is not a database number`);
  return db;
}

/**
 * ioredis types `RedisOptions.replyMapping` as `| undefined` and its constructor's as not,
 * which `exactOptionalPropertyTypes` rejects; the object is the same either way.
 */
export type ClientOptions = RedisOptions & { replyMapping?: never };

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
  } as ClientOptions);
  // Without a listener ioredis prints every reconnect failure; the owner decides what to log.
  client.on('error', (error: Error) => onError(error));
  return client;
}

/** Connects (once) and checks the server is new enough for the commands we use. */
export async function connectChecked(client: Redis, config: RedisUrlConfig): Promise<void> {
  if (client.status === 'wait') {
    // ioredis rejects connect() with a bare "Connection is closed."; the reason (refused,
    // certificate not trusted...) only comes as an 'error' event, so keep the first one.
    let reason: Error | undefined;
    const remember = (error: Error): void => {
      reason ??= error;
    };
    client.on('error', remember);
    try {
      await client.connect();
    } catch (error) {
      const cause = reason ?? (error as Error);
      throw new BrokerConnectionError(
        `Could not connect to Redis at ${config.display}: ${cause.message}. ${connectHint(cause, config)}`,
        { cause },
      );
    } finally {
      client.off('error', remember);
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

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** What to check, by the way the connection failed: the usual TLS mistakes get their own. */
function connectHint(error: Error, config: RedisUrlConfig): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    return (
      "Redis's TLS certificate is not signed by a CA Node trusts: name the CA's PEM file with " +
      '?ssl_ca_certs=/path/to/ca.pem (or NODE_EXTRA_CA_CERTS), or ?ssl_cert_reqs=none to skip the check.'
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "Redis's TLS certificate does not name this host: connect by a name or address it lists.";
  }
  // Under TLS 1.3 the server checks a client's certificate after the handshake, so a
  // refusal arrives as a reset rather than a certificate alert.
  if (
    config.connection.tls &&
    (code === 'ECONNRESET' || /CERTIFICATE_REQUIRED|UNKNOWN_CA|BAD_CERTIFICATE/.test(code))
  ) {
    return (
      'Redis closed the TLS connection: if it requires client certificates (tls-auth-clients), ' +
      'give one it trusts with ?ssl_certfile=/path/cert.pem&ssl_keyfile=/path/key.pem.'
    );
  }
  // A TLS hello sent to a plain port is never answered in TLS: it times out or fails to parse.
  if (config.connection.tls && (code === 'ETIMEDOUT' || code.startsWith('ERR_SSL_'))) {
    return "No TLS handshake: check that the port is Redis's tls-port (a plain port needs redis://).";
  }
  if (!config.connection.tls && code === 'ECONNRESET') {
    return 'Redis closed the connection at once: if that port serves TLS, use rediss://.';
  }
  return 'Check that Redis runs and the URL (host, port, password, db) is right.';
}

/**
 * Resolves once the connection is ready, or rejects with BrokerConnectionError after
 * `timeoutMs`. Used before a publish so that a publish during an outage either goes out
 * after the reconnect or fails without having been queued for later.
 */
export function whenReady(client: Redis, timeoutMs: number, display: string): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') {
    return Promise.reject(
      new BrokerConnectionError(`The Redis connection to ${display} is closed.`),
    );
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
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 500)),
    ]);
  }
  client.disconnect(false);
}
