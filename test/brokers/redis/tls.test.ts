/**
 * `rediss://` end to end, on a TLS-only redis-server of the test's own (`--port 0`, so no
 * plain-text connection to it is even possible) with a throwaway CA made by `openssl`: a
 * task published, run by an in-process worker and its result pushed over pub/sub, with the
 * CA given as kombu's `?ssl_ca_certs=`; a client certificate from `ssl_certfile` and
 * `ssl_keyfile`; an untrusted certificate and a wrong port refused with a clear
 * BrokerConnectionError within a bound, never a hang.
 * Skips with the reason when openssl or a TLS-capable redis-server is missing (fails under CI=true).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac, Worker, createLineLogger } from '../../../src/index.js';
import { createRedisBackend } from '../../../src/backends/redis/index.js';
import { createRedisBroker } from '../../../src/brokers/redis/index.js';
import { BrokerConnectionError } from '../../../src/errors.js';
import {
  commandMissing,
  PrivateRedis,
  RedisStartError,
  requirePrerequisite,
  sparePort,
} from './redis-test-support.js';

const run = promisify(execFile);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Where the throwaway CA, server and client certificates are (PEM files). */
interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

// Extensions spelled out here rather than taken from the system's openssl.cnf, whose
// defaults differ between distributions; the server's names are what the tests dial.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
`;

/** A CA and two certificates it signs, on P-256 keys (milliseconds to make, unlike RSA). */
async function makePki(dir: string): Promise<TestPki> {
  const file = (name: string): string => path.join(dir, name);
  const config = file('openssl.cnf');
  writeFileSync(config, OPENSSL_CONFIG);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca',
    ...newKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=celeriac test CA',
  ]);
  const leaf = async (name: string, extensions: string, serial: string): Promise<void> => {
    await run('openssl', [
      'req',
      '-new',
      '-config',
      config,
      ...newKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      `/CN=celeriac test ${name}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      serial,
      '-days',
      '1',
      '-extfile',
      config,
      '-extensions',
      extensions,
      '-out',
      file(`${name}.pem`),
    ]);
  };
  await leaf('server', 'server', '2');
  await leaf('client', 'client', '3');
  return {
    caFile: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}

/** A fresh PKI in a temporary directory removed after the test; skips without openssl. */
async function testPki(ctx: TestContext): Promise<TestPki> {
  requirePrerequisite(ctx, commandMissing('openssl', ['version']));
  requirePrerequisite(ctx, commandMissing('redis-server', ['--version']));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-tls-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return makePki(dir);
}

/** A TLS-only redis-server signed by `pki`'s CA; skips when redis-server was built without TLS. */
async function tlsRedis(
  ctx: TestContext,
  pki: TestPki,
  authClients = false,
): Promise<PrivateRedis> {
  let redis: PrivateRedis;
  try {
    redis = await PrivateRedis.start({
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile, authClients },
    });
  } catch (error) {
    if (error instanceof RedisStartError && error.lacksTls) {
      requirePrerequisite(
        ctx,
        `redis-server was built without TLS support: ${error.output.trim().split('\n').pop()}`,
      );
    }
    throw error;
  }
  cleanups.push(() => redis.dispose());
  return redis;
}

/** Query parameters as kombu spells them, file paths escaped. */
function withParams(url: string, params: Record<string, string>): string {
  return `${url}?${new URLSearchParams(params).toString()}`;
}

/**
 * Connects a broker and a backend to `url` and returns how each failed, or null for one
 * that connected, closing both whatever happens (a failed client otherwise retries forever).
 */
async function connectBoth(url: string): Promise<Array<Error | null>> {
  const broker = createRedisBroker(url);
  const backend = createRedisBackend(url);
  cleanups.push(
    () => broker.close(),
    () => backend.close(),
  );
  return Promise.all(
    [broker.connect(), backend.connect()].map((connecting) =>
      connecting.then(
        () => null,
        (error: unknown) => error as Error,
      ),
    ),
  );
}

/** Names of the clients connected to `redis` now (its only port is TLS: each is a TLS client). */
async function clientNames(redis: PrivateRedis): Promise<string[]> {
  const client = new Redis(redis.port, '127.0.0.1', {
    ...redis.clientOptions(),
    lazyConnect: true,
  });
  try {
    await client.connect();
    const list = (await client.call('CLIENT', 'LIST')) as string;
    return [...list.matchAll(/ name=(\S*)/g)].map((match) => match[1]!).filter(Boolean);
  } finally {
    client.disconnect();
  }
}

/** Subscribers of `channel` now. */
async function subscribers(redis: PrivateRedis, channel: string): Promise<number> {
  const client = new Redis(redis.port, '127.0.0.1', {
    ...redis.clientOptions(),
    lazyConnect: true,
  });
  try {
    await client.connect();
    const reply = (await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  } finally {
    client.disconnect();
  }
}

describe('rediss:// (Redis over TLS)', () => {
  it('runs a task end to end over TLS: published, run by a worker, its result pushed over pub/sub', async (ctx) => {
    const pki = await testPki(ctx);
    const redis = await tlsRedis(ctx, pki);
    const url = withParams(redis.url, { ssl_ca_certs: pki.caFile, ssl_cert_reqs: 'required' });
    const app = new Celeriac({ broker: url, backend: url });
    cleanups.push(() => app.close());
    const add = app.task('tls.add', (a: number, b: number) => a + b);

    const result = await add.delay(2, 3);
    // Waiting before any worker runs: the SUCCESS can only come as a push on the subscriber.
    const answer = result.get({ timeout: 10 });
    await expect.poll(() => subscribers(redis, `celery-task-meta-${result.id}`)).toBe(1);
    const worker = new Worker(app, {
      concurrency: 1,
      logger: createLineLogger({ level: 'silent' }),
    });
    cleanups.push(() => worker.stop({ timeout: 5 }));
    await worker.start();

    expect(await answer).toBe(5);
    expect(await clientNames(redis)).toEqual(
      expect.arrayContaining(['celeriac:broker', 'celeriac:backend', 'celeriac:subscribe']),
    );
  });

  it('refuses a server certificate no trusted CA signed, with a clear BrokerConnectionError, not a hang', async (ctx) => {
    const pki = await testPki(ctx);
    const redis = await tlsRedis(ctx, pki);
    const started = Date.now();
    const failures = await connectBoth(redis.url);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect(failure?.message).toMatch(/self-signed certificate in certificate chain/);
      expect(failure?.message).toMatch(/ssl_ca_certs=/);
    }
  });

  it('connects without checking the certificate only when told to, with ssl_cert_reqs=none (CERT_NONE)', async (ctx) => {
    const pki = await testPki(ctx);
    const redis = await tlsRedis(ctx, pki);
    expect(await connectBoth(withParams(redis.url, { ssl_cert_reqs: 'CERT_NONE' }))).toEqual([
      null,
      null,
    ]);
  });

  it('presents the client certificate of ssl_certfile and ssl_keyfile to a Redis that requires one', async (ctx) => {
    const pki = await testPki(ctx);
    const redis = await tlsRedis(ctx, pki, true);
    const trusting = { ssl_ca_certs: pki.caFile };
    const refused = await connectBoth(withParams(redis.url, trusting));
    for (const failure of refused) {
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect(failure?.message).toMatch(/ssl_certfile=/);
    }
    const withCert = withParams(redis.url, {
      ...trusting,
      ssl_certfile: pki.clientCert,
      ssl_keyfile: pki.clientKey,
    });
    expect(await connectBoth(withCert)).toEqual([null, null]);
  });

  it('fails fast with BrokerConnectionError on a rediss:// port nobody listens on', async (ctx) => {
    const pki = await testPki(ctx);
    const url = withParams(`rediss://127.0.0.1:${await sparePort()}/0`, {
      ssl_ca_certs: pki.caFile,
    });
    const started = Date.now();
    const failures = await connectBoth(url);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect(failure?.message).toMatch(/ECONNREFUSED/);
    }
  });

  it('fails within its bound, pointing at the port, when rediss:// dials a plain-text Redis port', async (ctx) => {
    requirePrerequisite(ctx, commandMissing('redis-server', ['--version']));
    const plain = await PrivateRedis.start();
    cleanups.push(() => plain.dispose());
    const started = Date.now();
    // A TLS hello on a plain port goes unanswered (ioredis's 10 s connect timeout) unless
    // Redis happens to reply to it with an error, which fails the handshake at once.
    const failures = await connectBoth(`rediss://127.0.0.1:${plain.port}/0?ssl_cert_reqs=none`);
    expect(Date.now() - started).toBeLessThan(12_000);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect(failure?.message).toMatch(/tls-port/);
    }
  });

  it('tells a redis:// client dialing a TLS-only port to use rediss://', async (ctx) => {
    const pki = await testPki(ctx);
    const redis = await tlsRedis(ctx, pki);
    const failures = await connectBoth(`redis://127.0.0.1:${redis.port}/0`);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect(failure?.message).toMatch(/rediss:\/\//);
    }
  });
});
