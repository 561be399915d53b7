/**
 * Redis URL forms: host, port, database, password (and user), TLS and kombu's ssl_*
 * parameters, unix sockets, the `keyPrefix` and broker query options, and clear errors for
 * what is not a Redis URL. Pure parsing: no Redis needed (TLS files are temporary ones).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidRedisUrlError, parseRedisUrl } from '../../../src/brokers/redis/index.js';
import { resolveBrokerSettings } from '../../../src/brokers/redis/options.js';

describe('parseRedisUrl', () => {
  it('reads host, port and database, defaulting to 127.0.0.1:6379/0', () => {
    expect(parseRedisUrl('redis://').connection).toMatchObject({ host: '127.0.0.1', port: 6379 });
    expect(parseRedisUrl('redis://cache.internal:6380/2').connection).toMatchObject({
      host: 'cache.internal',
      port: 6380,
      db: 2,
    });
  });

  it('reads a password alone (Celery’s redis://:pw@host form) or with a user, decoding escapes', () => {
    expect(parseRedisUrl('redis://:s%40cret@h:1/0').connection).toMatchObject({
      password: 's@cret',
    });
    expect(parseRedisUrl('redis://app:pw@h').connection).toMatchObject({
      username: 'app',
      password: 'pw',
    });
  });

  it('hides the password in what it displays', () => {
    const config = parseRedisUrl('redis://app:hunter2@h:6379/0');
    expect(config.display).not.toContain('hunter2');
  });

  it('turns on TLS for rediss://, naming the host for SNI only when it is a name, not an address', () => {
    expect(parseRedisUrl('rediss://secure.example:6380').connection.tls).toEqual({
      servername: 'secure.example',
    });
    expect(parseRedisUrl('rediss://127.0.0.1:6380').connection.tls).toEqual({});
  });

  it('reads kombu’s TLS parameters: the CA, a client certificate and key, and ssl_cert_reqs', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-url-'));
    try {
      const pem = (name: string): string => {
        writeFileSync(path.join(dir, name), `${name} contents`);
        return encodeURIComponent(path.join(dir, name));
      };
      const tls = parseRedisUrl(
        `rediss://h:6380/0?ssl_ca_certs=${pem('ca.pem')}&ssl_certfile=${pem('cert.pem')}&ssl_keyfile=${pem('key.pem')}&ssl_cert_reqs=required`,
      ).connection.tls;
      expect(tls?.ca).toEqual(Buffer.from('ca.pem contents'));
      expect(tls?.cert).toEqual(Buffer.from('cert.pem contents'));
      expect(tls?.key).toEqual(Buffer.from('key.pem contents'));
      expect(tls?.rejectUnauthorized).toBe(true);
      // Celery's URLs spell the level both ways; a certificate file may hold its key too.
      const bundled = parseRedisUrl(
        `rediss://h?ssl_cert_reqs=CERT_NONE&ssl_certfile=${pem('both.pem')}`,
      ).connection.tls;
      expect(bundled?.rejectUnauthorized).toBe(false);
      expect(bundled?.key).toEqual(Buffer.from('both.pem contents'));
      expect(
        parseRedisUrl('rediss://h?ssl_cert_reqs=CERT_OPTIONAL').connection.tls?.rejectUnauthorized,
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses TLS parameters it cannot honour: an unreadable file, an unknown level, a plain redis:// URL', () => {
    expect(() => parseRedisUrl('rediss://h?ssl_ca_certs=/nonexistent/ca.pem')).toThrow(
      /ssl_ca_certs: cannot read "\/nonexistent\/ca.pem"/,
    );
    expect(() => parseRedisUrl('rediss://h?ssl_cert_reqs=sometimes')).toThrow(
      /required, optional, none/,
    );
    expect(() => parseRedisUrl('rediss://h?ssl_keyfile=/k.pem')).toThrow(
      /ssl_keyfile needs ssl_certfile/,
    );
    expect(() => parseRedisUrl('redis://h?ssl_cert_reqs=required')).toThrow(
      /only apply to rediss:\/\//,
    );
  });

  it('reads a unix socket path and its ?db=', () => {
    expect(parseRedisUrl('unix:///run/redis/redis.sock?db=4').connection).toMatchObject({
      path: '/run/redis/redis.sock',
      db: 4,
    });
  });

  it('reads ?keyPrefix= and the broker options from the query', () => {
    const config = parseRedisUrl(
      'redis://h/0?keyPrefix=tenant1:&visibilityTimeout=7200&delayMode=queue',
    );
    expect(config.keyPrefix).toBe('tenant1:');
    const settings = resolveBrokerSettings(config, {});
    expect(settings).toMatchObject({
      keyPrefix: 'tenant1:',
      visibilityTimeoutMs: 7_200_000,
      delayMode: 'queue',
    });
    expect(resolveBrokerSettings(config, { keyPrefix: 'given:' }).keyPrefix).toBe('given:');
  });

  it('derives the heartbeat and restore interval from the lease, and refuses a heartbeat as long as the lease', () => {
    const settings = resolveBrokerSettings(parseRedisUrl('redis://h'), { leaseMs: 9000 });
    expect(settings).toMatchObject({
      leaseMs: 9000,
      heartbeatMs: 3000,
      restoreIntervalMs: 4500,
      visibilityTimeoutMs: 3_600_000,
    });
    expect(() =>
      resolveBrokerSettings(parseRedisUrl('redis://h'), { leaseMs: 1000, heartbeatMs: 1000 }),
    ).toThrow(/heartbeatMs/);
  });

  it('limits envelopes to 16 MiB unless told otherwise, in code or with ?maxEnvelopeBytes=', () => {
    expect(resolveBrokerSettings(parseRedisUrl('redis://h'), {}).maxEnvelopeBytes).toBe(
      16 * 1024 * 1024,
    );
    expect(
      resolveBrokerSettings(parseRedisUrl('redis://h?maxEnvelopeBytes=1048576'), {})
        .maxEnvelopeBytes,
    ).toBe(1_048_576);
    expect(
      resolveBrokerSettings(parseRedisUrl('redis://h?maxEnvelopeBytes=1048576'), {
        maxEnvelopeBytes: 2048,
      }).maxEnvelopeBytes,
    ).toBe(2048);
    expect(() =>
      resolveBrokerSettings(parseRedisUrl('redis://h'), { maxEnvelopeBytes: 0 }),
    ).toThrow(/positive number of bytes/);
    expect(() =>
      resolveBrokerSettings(parseRedisUrl('redis://h?maxEnvelopeBytes=1.5'), {}),
    ).toThrow(/whole number of bytes/);
  });

  it('rejects what is not a Redis URL with a message that shows the accepted forms', () => {
    expect(() => parseRedisUrl('amqp://h')).toThrow(InvalidRedisUrlError);
    expect(() => parseRedisUrl('redis://h/notadb')).toThrow(/database number/);
    expect(() => parseRedisUrl('unix://')).toThrow(/socket path/);
    expect(() => parseRedisUrl('not a url')).toThrow(/redis:\/\//);
  });
});
