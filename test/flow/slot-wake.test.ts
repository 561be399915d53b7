/**
 * A task waiting for a concurrency slot starts within a few ms of the slot's release,
 * without polling: the flow store announces releases (`watchReleases`). On Redis across
 * worker processes (pub/sub); on SQLite between workers of one process, while across
 * processes SQLite falls back to the waiter's slow retry (measured and printed, bounded
 * only loosely). Each trial: worker A (queue a) runs a key's holder for 800 ms; worker B
 * (queue b) gets the key's next task meanwhile, so it must wait for A's slot; the delay is
 * B's start minus A's end, from the tasks' own logs. Without announcements B's backoff
 * (up to 1 s) makes it hundreds of ms.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/flow/fixtures/flow-app.ts';
const TRIALS = 5;
const HOLD_MS = 800;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Runs the trials; `lines` reads the run log (`start|end <key> <id> <pid> <ms>`). */
async function measure(client: Celeriac, lines: () => string[]): Promise<number[]> {
  const delays: number[] = [];
  const find = (kind: string, key: string) =>
    lines()
      .map((l) => l.split(' '))
      .filter((p) => p[0] === kind && p[1] === key);
  const waitLines = async (kind: string, key: string, count: number) => {
    const deadline = Date.now() + 10_000;
    while (find(kind, key).length < count) {
      if (Date.now() > deadline) throw new Error(`no ${count} "${kind} ${key}" lines`);
      await sleep(5);
    }
    return find(kind, key);
  };
  for (let i = 0; i < TRIALS; i++) {
    const key = `wake-${i}-${randomUUID().slice(0, 6)}`;
    await client.sendTask('flow.locked', [key, HOLD_MS], { queue: 'a' });
    await waitLines('start', key, 1);
    await client.sendTask('flow.locked', [key, 10], { queue: 'b' });
    const [first, second] = await waitLines('start', key, 2);
    const [end] = await waitLines('end', key, 1);
    expect(first![3]).not.toBe(second![3]); // another worker waited for it
    delays.push(Number(second![4]) - Number(end![4]));
  }
  return delays;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

function runLog() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-wake-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const file = path.join(dir, 'runs.log');
  const lines = () =>
    existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { dir, file, lines };
}

describe('a slot waiter wakes on release', () => {
  it('on Redis, across worker processes, within a few ms', async (ctx) => {
    await requireService(ctx, 'redis');
    const { file, lines } = runLog();
    const keyPrefix = `celeriac-test:wake-${randomUUID().slice(0, 8)}:`;
    cleanups.push(() => deleteRedisPrefix(keyPrefix));
    const env = { CELERIAC_BROKER_URL: REDIS_URL, TEST_RUN_LOG: file, TEST_KEY_PREFIX: keyPrefix };
    const client = new Celeriac({ broker: REDIS_URL, keyPrefix });
    cleanups.push(() => client.close());
    await Promise.all([
      startWorker(APP, env, ['-c', '2', '-n', 'a@wake', '-Q', 'a']),
      startWorker(APP, env, ['-c', '2', '-n', 'b@wake', '-Q', 'b']),
    ]);
    const delays = await measure(client, lines);
    console.log(`redis slot wake delays (ms): ${delays.join(', ')}; median ${median(delays)}`);
    expect(median(delays)).toBeLessThan(100); // the slow retry's median is several hundred
    expect(Math.max(...delays)).toBeLessThan(300);
  });

  it('on SQLite, between workers of one process, within a few ms', async () => {
    const { dir, file, lines } = runLog();
    const url = `sqlite://${path.join(dir, 'flow.db')}`;
    const made: Celeriac[] = [];
    for (const queue of ['a', 'b']) {
      const app = new Celeriac({ broker: url });
      app.task(
        'flow.locked',
        async function (key: string, ms: number) {
          // The fixture's log format (the queue in place of the pid: one process here).
          appendFileSync(file, `start ${key} ${this.id} ${queue} ${Date.now()}\n`);
          await sleep(ms);
          appendFileSync(file, `end ${key} ${this.id} ${queue} ${Date.now()}\n`);
        },
        { concurrency: { limit: 1, key: (key) => key } },
      );
      const worker = new Worker(app, {
        queues: [queue],
        concurrency: 2,
        logger: createLineLogger({ level: 'silent' }),
      });
      cleanups.push(async () => {
        await worker.stop({ timeout: 2 });
        await app.close();
      });
      await worker.start();
      made.push(app);
    }
    const delays = await measure(made[0]!, lines);
    console.log(
      `sqlite in-process slot wake delays (ms): ${delays.join(', ')}; median ${median(delays)}`,
    );
    expect(median(delays)).toBeLessThan(100); // the slow retry's median is several hundred
    expect(Math.max(...delays)).toBeLessThan(300);
  });

  it('on SQLite across processes it falls back to the slow retry (measured)', async () => {
    const { dir, file, lines } = runLog();
    const url = `sqlite://${path.join(dir, 'flow.db')}`;
    const env = { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: file };
    const client = new Celeriac({ broker: url });
    cleanups.push(() => client.close());
    await Promise.all([
      startWorker(APP, env, ['-c', '2', '-n', 'a@wake', '-Q', 'a']),
      startWorker(APP, env, ['-c', '2', '-n', 'b@wake', '-Q', 'b']),
    ]);
    const delays = await measure(client, lines);
    console.log(
      `sqlite cross-process slot wake delays (ms): ${delays.join(', ')}; median ${median(delays)}`,
    );
    expect(Math.max(...delays)).toBeLessThan(1500);
  });
});
