/**
 * Chords over RabbitMQ with a Redis or an SQLite result backend keeping the join (the
 * broker keeps no counters): several worker processes finish header tasks at once and the
 * body runs once; a failed header task fails the body. Each test has a vhost of its own.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac, chord } from '../../src/index.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { createVhost, requireVhosts } from '../support/rabbitmq-vhost.js';

const APP = 'test/canvas/fixtures/canvas-app.ts';
let dir: string;
let cleanups: Array<() => Promise<void>> = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-canvas-amqp-'));
});

afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  rmSync(dir, { recursive: true, force: true });
});

const runLog = () => path.join(dir, 'runs.log');
const runs = () =>
  existsSync(runLog()) ? readFileSync(runLog(), 'utf8').trim().split('\n').filter(Boolean) : [];

async function setup(ctx: TestContext, backend: 'redis' | 'sqlite') {
  await requireVhosts(ctx);
  const vhost = await createVhost('canvas');
  cleanups.push(() => vhost.dispose());
  const env: Record<string, string> = { CELERIAC_BROKER_URL: vhost.url, TEST_RUN_LOG: runLog() };
  let backendUrl = `sqlite://${path.join(dir, 'results.db')}`;
  if (backend === 'redis') {
    await requireService(ctx, 'redis');
    const prefix = `celeriac-test:canvas-amqp-${process.pid}-${Date.now()}:`;
    env.TEST_KEY_PREFIX = prefix;
    backendUrl = REDIS_URL;
    cleanups.push(() => deleteRedisPrefix(prefix));
  }
  env.CELERIAC_RESULT_BACKEND = backendUrl;
  const client = new Celeriac({
    broker: vhost.url,
    backend: backendUrl,
    ...(env.TEST_KEY_PREFIX ? { keyPrefix: env.TEST_KEY_PREFIX } : {}),
  });
  cleanups.push(() => client.close());
  return {
    client,
    env,
    add: client.signature<[a: number, b: number], number>('tasks.add'),
    fail: client.signature<[message?: string], never>('tasks.fail'),
    tsum: client.signature<[numbers: number[]], number>('tasks.tsum'),
  };
}

describe.each(['redis', 'sqlite'] as const)('chords over RabbitMQ with a %s backend', (backend) => {
  it('joins once across several workers, and a failed header task fails the body', async (ctx) => {
    const { env, add, fail, tsum } = await setup(ctx, backend);
    await startWorker(APP, env, ['-c', '4', '-n', 'a@test']);
    await startWorker(APP, env, ['-c', '4', '-n', 'b@test']);
    const header = Array.from({ length: 40 }, (_, i) => add.s(i, 1));
    const result = await chord(header, tsum.s()).delay();
    expect(await result.get({ timeout: 30 })).toBe((40 * 41) / 2);

    const failing = await chord([add.s(1, 1), fail.s('amqp down'), add.s(2, 2)], tsum.s()).delay();
    const error = (await failing.get({ timeout: 30, propagate: false })) as Error;
    expect(error.name).toBe('ChordError');
    expect(error.message).toMatch(/raised TypeError\(amqp down\)/);
    await sleep(300);
    expect(runs().filter((l) => l.startsWith('tsum'))).toHaveLength(1);
  });
});
