/**
 * Flow limits across three real worker processes, on SQLite and on Redis: a per-key lock
 * never runs two of one key at once (checked from the tasks' start and end stamps), a
 * global rate holds within 10 % across the workers over 10 s, and a worker killed with SIGKILL while
 * it holds a key's slot frees it within the lease.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/flow/fixtures/flow-app.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Setup {
  env: Record<string, string>;
  client: Celeriac;
  lines: () => string[];
}

async function setup(kind: 'sqlite' | 'redis', ctx: TestContext): Promise<Setup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-flow-'));
  const runLog = path.join(dir, 'runs.log');
  let url: string;
  let keyPrefix = '';
  if (kind === 'redis') {
    await requireService(ctx, 'redis');
    url = REDIS_URL;
    keyPrefix = `celeriac-test:flow-${randomUUID().slice(0, 8)}:`;
  } else {
    url = `sqlite://${path.join(dir, 'flow.db')}`;
  }
  const env = {
    CELERIAC_BROKER_URL: url,
    TEST_RUN_LOG: runLog,
    TEST_KEY_PREFIX: keyPrefix,
    TEST_LEASE_MS: '1500',
    TEST_FLOW_LEASE_MS: '1500',
  };
  const client = new Celeriac({ broker: url, keyPrefix });
  cleanups.push(async () => {
    await client.close();
    if (keyPrefix) await deleteRedisPrefix(keyPrefix);
    rmSync(dir, { recursive: true, force: true });
  });
  const lines = () =>
    existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { env, client, lines };
}

async function threeWorkers(env: Record<string, string>) {
  return Promise.all(
    ['a', 'b', 'c'].map((n) => startWorker(APP, env, ['-c', '4', '-n', `${n}@flow`])),
  );
}

interface Span {
  key: string;
  start: number;
  end: number;
}

function spans(lines: string[]): Span[] {
  const open = new Map<string, { key: string; start: number }>();
  const done: Span[] = [];
  for (const line of lines) {
    const [what, key, id, , at] = line.split(' ');
    if (what === 'start') open.set(id!, { key: key!, start: Number(at) });
    if (what === 'end') {
      const began = open.get(id!);
      if (began) done.push({ ...began, end: Number(at) });
    }
  }
  return done;
}

describe.each(['sqlite', 'redis'] as const)('flow limits across three workers on %s', (kind) => {
  it('a per-key lock never runs two of one key at once, and keys run side by side', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    const workers = await threeWorkers(env);
    const keys = ['k1', 'k2', 'k3'];
    const sent = [];
    for (let i = 0; i < 5; i++)
      for (const key of keys) sent.push(await client.sendTask('flow.locked', [key, 80]));
    await Promise.all(sent.map((r) => r.get({ timeout: 15 })));
    const done = spans(lines());
    expect(done).toHaveLength(15);
    for (const key of keys) {
      const mine = done.filter((s) => s.key === key).sort((x, y) => x.start - y.start);
      for (let i = 1; i < mine.length; i++)
        expect(mine[i]!.start).toBeGreaterThanOrEqual(mine[i - 1]!.end);
    }
    // More than one key ran at a time somewhere.
    const overlap = done.some((s) =>
      done.some((o) => o.key !== s.key && o.start < s.end && s.start < o.end),
    );
    expect(overlap).toBe(true);
    for (const worker of workers) expect(worker.output()).not.toMatch(/ERROR/);
  });

  it('a global rate of 20/s holds within 10 % across the workers over 10 s', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    await threeWorkers(env);
    const sent = [];
    for (let i = 0; i < 201; i++) sent.push(client.sendTask('flow.limited', [i]));
    await Promise.all((await Promise.all(sent)).map((r) => r.get({ timeout: 30 })));
    const stamps = lines()
      .filter((l) => l.startsWith('rate '))
      .map((l) => Number(l.split(' ')[3]))
      .sort((a, b) => a - b);
    expect(stamps).toHaveLength(201);
    const spanMs = stamps.at(-1)! - stamps[0]!;
    expect(spanMs).toBeGreaterThan(9000);
    const rate = (200 * 1000) / spanMs;
    expect(rate).toBeGreaterThan(18);
    expect(rate).toBeLessThan(22);
    // Spread over the workers, not all on one.
    const pids = new Set(lines().map((l) => l.split(' ')[2]));
    expect(pids.size).toBeGreaterThan(1);
  });

  it('a worker killed with SIGKILL while it holds a key frees the slot within the lease', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    const [victim] = await Promise.all([startWorker(APP, env, ['-c', '2', '-n', 'victim@flow'])]);
    await client.sendTask('flow.locked', ['solo', 20_000]);
    while (!lines().some((l) => l.startsWith('start solo'))) await sleep(20);
    const others = await Promise.all(
      ['b', 'c'].map((n) => startWorker(APP, env, ['-c', '2', '-n', `${n}@flow`])),
    );
    await client.sendTask('flow.locked', ['solo', 10]);
    await sleep(700);
    // The victim still holds the key: nothing else of it has started.
    expect(lines().filter((l) => l.startsWith('start solo'))).toHaveLength(1);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    // The next run of the key (the waiting task, or the killed one delivered again) starts
    // once the lease ends.
    const deadline = killedAt + 8000;
    while (lines().filter((l) => l.startsWith('start solo')).length < 2 && Date.now() < deadline)
      await sleep(20);
    const starts = lines()
      .filter((l) => l.startsWith('start solo'))
      .map((l) => Number(l.split(' ')[4]));
    expect(starts.length).toBeGreaterThanOrEqual(2);
    // Lease 1.5 s, plus the waiting delivery's retry backoff (at most 1 s).
    expect(starts[1]! - killedAt).toBeLessThan(1500 + 1000 + 300);
    for (const worker of others) expect(worker.output()).not.toMatch(/ERROR/);
  });
});
