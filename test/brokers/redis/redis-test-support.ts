/**
 * Helpers for the Redis tests: a raw client for inspecting keys, cleanup of one test's
 * key prefix (never FLUSHDB: the Redis on 6379 is shared), and a private redis-server on a
 * spare port that a test may stop and start.
 * Must never delete a key outside the prefix it is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../../support/services.js';

export { REDIS_URL };

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
 * A redis-server of the test's own: `--save '' --appendonly no`, in a temporary directory.
 * `stop()` shuts it down with SAVE (so a restart keeps the data, as a persistent Redis
 * would); `kill()` loses everything; `start()` brings it back on the same port.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-redis-'));

  constructor(
    readonly port: number,
    /** Also listen on `<dir>/redis.sock`. */
    readonly unixSocket = false,
  ) {}

  static async start(options: { unixSocket?: boolean } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await sparePort(), options.unixSocket);
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    if (this.unixSocket) args.push('--unixsocket', path.join(this.dir, 'redis.sock'), '--unixsocketperm', '700');
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 5000;
    for (;;) {
      if (await answers(this.port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SHUTDOWN SAVE: the data survives into the next start. */
  async stop(): Promise<void> {
    const client = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private exited(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
