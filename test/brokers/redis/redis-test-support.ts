/**
 * Helpers for the Redis tests: a raw client for inspecting keys, cleanup of one test's
 * key prefix (never FLUSHDB: the Redis on 6379 is shared), a private redis-server on a
 * spare port (plain or TLS-only) that a test may stop and start, and a consumer in a child
 * process that a test may kill with SIGKILL.
 * Must never delete a key outside the prefix it is given.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { ClientOptions } from '../../../src/connections/redis/connection.js';
import type { TestContext } from 'vitest';
import { REDIS_URL } from '../../support/services.js';
import { waitFor } from '../../../src/testing/broker-conformance/harness.js';

export { REDIS_URL };

const CHILD_CONSUMER = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures/child-consumer.ts',
);

/** A consumer in a child process (fixtures/child-consumer.ts) and the lines it printed. */
export interface ChildConsumer {
  process: ChildProcess;
  lines: string[];
  waitLine: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
}

/**
 * Starts a child consumer of `queue` under `prefix`: mode `hold` never acks, `work` acks
 * each message after a short pause. `cleanups` gets a step that SIGKILLs it if still alive.
 */
export function spawnChildConsumer(
  cleanups: Array<() => Promise<void>>,
  options: {
    prefix: string;
    queue: string;
    mode: 'hold' | 'work';
    prefetch: number;
    leaseMs: number;
  },
): ChildConsumer {
  const { prefix, queue, mode, prefetch, leaseMs } = options;
  const args = [
    '--import',
    'tsx',
    CHILD_CONSUMER,
    REDIS_URL,
    prefix,
    queue,
    mode,
    String(prefetch),
    String(leaseMs),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return Promise.resolve();
  });
  return {
    process: child,
    lines,
    waitLine: (pattern, timeoutMs = 15_000) =>
      waitFor(
        `a line matching ${pattern}`,
        () => lines.some((line) => pattern.test(line)),
        timeoutMs,
      ),
  };
}

/** A plain client on the shared test Redis (or `url`), for looking at what the broker wrote. */
export function rawClient(url: string = REDIS_URL): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
}

/** Deletes every key starting with `prefix` (which must be non-empty and test-specific). */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix.length < 6) throw new Error(`refusing to delete by the short prefix "${prefix}"`);
  let cursor = '0';
  let deleted = 0;
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** A TCP port nobody listens on right now. */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Skips a test whose prerequisite (a program, a build option) is missing, saying which;
 * under CI=true fails instead, as `requireService` does: there a missing prerequisite is
 * a broken machine, not a reason to skip.
 */
export function requirePrerequisite(ctx: TestContext, reason: string | null): void {
  if (reason === null) return;
  if (process.env.CI === 'true')
    throw new Error(`CI=true and a prerequisite is missing: ${reason}`);
  ctx.skip(reason);
}

/** Null when `command args...` runs and exits 0, else why not (e.g. not installed). */
export function commandMissing(command: string, args: string[]): string | null {
  const run = spawnSync(command, args, { stdio: 'ignore', timeout: 5000 });
  if (run.error) return `${command} cannot be run: ${run.error.message}`;
  return run.status === 0 ? null : `${command} ${args.join(' ')} exited with ${run.status}`;
}

/** PEM files for a TLS-only redis-server; the certificate must be signed by `caFile`. */
export interface RedisTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** `--tls-auth-clients yes`: clients must present a certificate signed by `caFile`. */
  authClients?: boolean;
}

/** Thrown when redis-server exits before it answers, with what it printed. */
export class RedisStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n${output}`);
  }

  /**
   * A redis-server built without TLS does not know the tls-* directives at all (7.0); a
   * later one built with TLS as a module says TLS is not available until it is loaded.
   */
  get lacksTls(): boolean {
    return (
      (/tls-port/.test(this.output) && /Bad directive/.test(this.output)) ||
      /TLS.{0,40}not (supported|available|built)/i.test(this.output)
    );
  }
}

/** How much of redis-server's output is kept for a start failure's message. */
const OUTPUT_TAIL = 4000;

/**
 * A redis-server of the test's own: `--save '' --appendonly no`, in a temporary directory.
 * With `tls`, it listens on TLS only (`--port 0 --tls-port`), so every connection a test
 * makes to it is proven to be TLS. `stop()` shuts it down with SAVE (so a restart keeps the
 * data, as a persistent Redis would); `kill()` loses everything; `start()` brings it back
 * on the same port.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private output = '';
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-redis-'));

  constructor(
    readonly port: number,
    /** Also listen on `<dir>/redis.sock`. */
    readonly unixSocket = false,
    readonly tls?: RedisTlsFiles,
  ) {}

  static async start(
    options: { unixSocket?: boolean; tls?: RedisTlsFiles } = {},
  ): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await sparePort(), options.unixSocket, options.tls);
    try {
      await redis.start();
    } catch (error) {
      await redis.dispose();
      throw error;
    }
    return redis;
  }

  /** The server's URL, without TLS parameters (the test adds those it is about). */
  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let failure: string | undefined;
    child.once(
      'error',
      (error) => (failure = `redis-server could not be started: ${error.message}`),
    );
    child.once(
      'exit',
      (code, signal) => (failure ??= `redis-server exited (${signal ?? code}) before answering`),
    );
    const deadline = Date.now() + 5000;
    for (;;) {
      if (failure) throw new RedisStartError(failure, this.output);
      // The unix socket is bound after the TCP port: on a loaded machine a connect to it
      // can come in between, so both must answer.
      if (
        (await answers({ host: '127.0.0.1', port: this.port })) &&
        (!this.unixSocket || (await answers({ path: path.join(this.dir, 'redis.sock') })))
      )
        return;
      if (Date.now() > deadline)
        throw new RedisStartError(`redis-server on port ${this.port} did not start`, this.output);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private args(): string[] {
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    if (this.tls) {
      const { certFile, keyFile, caFile, authClients } = this.tls;
      args.push(
        '--port',
        '0',
        '--tls-port',
        String(this.port),
        '--tls-cert-file',
        certFile,
        '--tls-key-file',
        keyFile,
      );
      args.push('--tls-ca-cert-file', caFile, '--tls-auth-clients', authClients ? 'yes' : 'no');
    } else {
      args.push('--port', String(this.port));
    }
    if (this.unixSocket)
      args.push('--unixsocket', path.join(this.dir, 'redis.sock'), '--unixsocketperm', '700');
    return args;
  }

  /**
   * ioredis options that reach this server: over TLS, trusting its CA and presenting the
   * server's own certificate (signed by that CA, so it passes `--tls-auth-clients yes`).
   */
  clientOptions(): ClientOptions {
    if (!this.tls) return {};
    const pem = (file: string): Buffer => readFileSync(file);
    return {
      tls: { ca: pem(this.tls.caFile), cert: pem(this.tls.certFile), key: pem(this.tls.keyFile) },
    };
  }

  /** SHUTDOWN SAVE: the data survives into the next start. */
  async stop(): Promise<void> {
    const client = new Redis(this.port, '127.0.0.1', {
      ...this.clientOptions(),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    await client.connect();
    await client.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    client.disconnect();
    await this.exited();
  }

  /** SIGKILL, nothing saved. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited();
  }

  async dispose(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private exited(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }
}

function answers(where: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(where);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
