/**
 * `redactUrl` hides every credential form the URL parsers of the drivers accept (user-info
 * passwords, `?password=` and the other secret parameters), keeps the rest readable, and
 * never throws on what is not a URL; the error classes that show a URL use it.
 */
import { describe, expect, it } from 'vitest';
import { MissingPeerDependencyError, UnsupportedUrlError } from '../src/errors.js';
import { parseRedisUrl } from '../src/brokers/redis/index.js';
import { createAmqpBroker } from '../src/brokers/amqp/index.js';
import { redactUrl } from '../src/url.js';

const SECRET = 'S3cr3t-Pw';

describe('redactUrl', () => {
  it.each([
    ['redis://:S3cr3t-Pw@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['redis://app:S3cr3t-Pw@cache:6379/0', 'redis://app:***@cache:6379/0'],
    [
      'rediss://app:S3cr3t-Pw@cache:6380/0?ssl_cert_reqs=required',
      'rediss://app:***@cache:6380/0?ssl_cert_reqs=required',
    ],
    ['redis://cache:6379/0?password=S3cr3t-Pw', 'redis://cache:6379/0?password=***'],
    [
      'redis://cache/0?keyPrefix=a:&password=S3cr3t-Pw&db=2',
      'redis://cache/0?keyPrefix=a:&password=***&db=2',
    ],
    ['redis://:S3cr3t-Pw@cache/0?password=S3cr3t-Pw', 'redis://:***@cache/0?password=***'],
    ['unix:///run/redis.sock?db=1&password=S3cr3t-Pw', 'unix:///run/redis.sock?db=1&password=***'],
    ['unix://:S3cr3t-Pw@/run/redis.sock', 'unix://:***@/run/redis.sock'],
    [
      'redis+socket:///run/redis.sock?password=S3cr3t-Pw',
      'redis+socket:///run/redis.sock?password=***',
    ],
    [
      'redis://cache/0?sentinel_password=S3cr3t-Pw&PASSWORD=S3cr3t-Pw',
      'redis://cache/0?sentinel_password=***&PASSWORD=***',
    ],
    ['amqp://user:S3cr3t-Pw@rabbit:5672/vhost', 'amqp://user:***@rabbit:5672/vhost'],
    [
      'amqps://user:S3cr3t-Pw@rabbit:5671//?heartbeat=10',
      'amqps://user:***@rabbit:5671//?heartbeat=10',
    ],
    ['rpc://user:S3cr3t-Pw@rabbit', 'rpc://user:***@rabbit'],
    [
      'postgres://app:S3cr3t-Pw@db/app?sslmode=require&sslpassword=S3cr3t-Pw',
      'postgres://app:***@db/app?sslmode=require&sslpassword=***',
    ],
    [
      'redis://h/0?token=S3cr3t-Pw&access_token=S3cr3t-Pw&api_key=S3cr3t-Pw#frag',
      'redis://h/0?token=***&access_token=***&api_key=***#frag',
    ],
    ['redis://h/0?pass%77ord=S3cr3t-Pw', 'redis://h/0?pass%77ord=***'],
  ])('hides the secret in %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('hides a password holding an escaped or even an unescaped "@" (the parser splits at the last one)', () => {
    expect(redactUrl('redis://:S3cr%40t@cache/0')).toBe('redis://:***@cache/0');
    expect(redactUrl('redis://app:S3cr3t@Pw@cache/0')).toBe('redis://app:***@cache/0');
    // The user info parsed as the URL parser does: new URL agrees on the host.
    expect(new URL('redis://app:S3cr3t@Pw@cache/0').hostname).toBe('cache');
  });

  it('hides the password of a URL that does not parse (an unescaped "/", "?" or "#" in it)', () => {
    for (const url of [
      'redis://:S3c/r3t-Pw@cache/0',
      'redis://app:S3c?r3t-Pw@cache/0',
      'amqp://u:S3c#r3t-Pw@h',
    ]) {
      expect(redactUrl(url)).not.toMatch(/r3t-Pw/);
      expect(redactUrl(url)).toMatch(/@/);
    }
  });

  it('keeps what is not secret: user names, hosts, ports, databases, other parameters', () => {
    for (const url of [
      'redis://cache:6379/0?keyPrefix=x:',
      'amqp://guest@rabbit//',
      'sqlite://./celeriac.db',
      'sqlite://:memory:',
      'redis://h/0?q=a@b',
    ]) {
      expect(redactUrl(url)).toBe(url);
    }
    expect(redactUrl('redis://:@h/0')).toBe('redis://:@h/0');
    expect(redactUrl('redis://h/0?password=')).toBe('redis://h/0?password=');
  });

  it('never throws, whatever it is given', () => {
    for (const text of [
      '',
      'not a url',
      '(instance)',
      '%%%',
      '?password=%zz',
      'redis://%zz:%zz@h?%zz=1',
      '@@@',
      '//:x@',
    ]) {
      expect(() => redactUrl(text)).not.toThrow();
    }
    expect(redactUrl('//:S3cr3t-Pw@h')).not.toContain(SECRET);
  });

  it('is what the Redis and AMQP URL parsers show', () => {
    expect(parseRedisUrl(`redis://app:${SECRET}@h/0?password=${SECRET}`).display).not.toContain(
      SECRET,
    );
    // A port out of range: the AMQP driver refuses the URL, naming it.
    expect(() => createAmqpBroker(`amqp://u:${SECRET}@h:99999999/?password=${SECRET}`)).toThrow(
      /"amqp:\/\/u:\*\*\*@h:99999999\/\?password=\*\*\*" is not a valid AMQP URL/,
    );
  });
});

describe('errors that show a URL', () => {
  it('hide its secrets', () => {
    expect(
      new UnsupportedUrlError('broker', `kafka://u:${SECRET}@h?password=${SECRET}`, ['redis'])
        .message,
    ).not.toContain(SECRET);
    expect(
      new UnsupportedUrlError('broker', `kafka://h?password=${SECRET}`, ['redis']).message,
    ).toContain('kafka://h?password=***');
    expect(
      new MissingPeerDependencyError('ioredis', `redis://h/0?password=${SECRET}`).message,
    ).not.toContain(SECRET);
    expect(() => parseRedisUrl(`redis://:${SECRET}@h/notadb?password=${SECRET}`)).toThrow(
      /password=\*\*\*/,
    );
    expect(() => parseRedisUrl(`redis://:${SECRET}@h/notadb`)).not.toThrow(new RegExp(SECRET));
  });
});
