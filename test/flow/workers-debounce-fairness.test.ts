/**
 * Debounce, fairness, throttle and idempotent enqueue across three real worker processes,
 * on SQLite and on Redis: debounced calls run once, with the last call's arguments, after
 * the quiet period; a singleton key held by a worker killed with SIGKILL frees within the
 * lease; a tenant's single task waits only a few task-times behind another
 * tenant's backlog of 20,000 (the bound is measured and printed); a throttle lets one run
 * through per period across the workers; fifty concurrent enqueuers of one idempotency
 * key make one run. With RabbitMQ as the broker the state lives in the result backend's
 * store (Redis), and a result backend without one makes the worker refuse to start.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac, type AsyncResult, type TaskOptions } from '../../src/index.js';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { createVhost, requireVhosts } from '../support/rabbitmq-vhost.js';

const APP = 'test/flow/fixtures/flow-app.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** The options the fixture's tasks declare, for the client's sends (it does not import the fixture). */
const DEBOUNCED: TaskOptions = { debounce: { delay: 0.5, key: (user) => user as string } };
const FAIR: TaskOptions = { fairness: { key: (tenant) => tenant as string } };

interface Setup {
  env: Record<string, string>;
  client: Celeriac;
  lines: (prefix: string) => string[][];
}

async function setup(
  kind: 'sqlite' | 'redis' | 'amqp',
  ctx: TestContext,
  backendUrl?: string,
): Promise<Setup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-flow2-'));
  const runLog = path.join(dir, 'runs.log');
  let url: string;
  let backend: string | undefined = backendUrl;
  let keyPrefix = '';
  if (kind === 'sqlite') {
    url = `sqlite://${path.join(dir, 'flow.db')}`;
  } else {
    await requireService(ctx, 'redis');
    keyPrefix = `celeriac-test:flow2-${randomUUID().slice(0, 8)}:`;
    url = REDIS_URL;
    if (kind === 'amqp') {
      await requireVhosts(ctx);
      const vhost = await createVhost('flow');
      cleanups.push(() => vhost.dispose());
      url = vhost.url;
      backend ??= REDIS_URL;
    }
  }
  const env: Record<string, string> = {
    CELERIAC_BROKER_URL: url,
    TEST_RUN_LOG: runLog,
    TEST_KEY_PREFIX: keyPrefix,
    TEST_LEASE_MS: '1500',
    TEST_FLOW_LEASE_MS: '1500',
  };
  if (backend) env.CELERIAC_RESULT_BACKEND = backend;
  const client = new Celeriac({ broker: url, ...(backend && { backend: backend }), keyPrefix });
  cleanups.push(async () => {
    await client.close();
    if (keyPrefix) await deleteRedisPrefix(keyPrefix);
    rmSync(dir, { recursive: true, force: true });
  });
  const lines = (prefix: string) =>
    (existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n') : [])
      .filter((l) => l.startsWith(`${prefix} `))
      .map((l) => l.split(' '));
  return { env, client, lines };
}

function threeWorkers(env: Record<string, string>, concurrency = 4) {
  return Promise.all(
    ['a', 'b', 'c'].map((n) =>
      startWorker(APP, env, ['-c', String(concurrency), '-n', `${n}@flow`]),
    ),
  );
}

describe.each(['sqlite', 'redis'] as const)('flow across three workers on %s', (kind) => {
  it('debounce runs the last call of a key once, after the quiet period', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    const workers = await threeWorkers(env);
    const calls: AsyncResult<unknown>[] = [];
    let lastCallAt = 0;
    for (let i = 1; i <= 8; i++) {
      lastCallAt = Date.now();
      calls.push(await client.sendTask('flow.debounced', ['u1', i], {}, DEBOUNCED));
      if (i % 2 === 0)
        calls.push(await client.sendTask('flow.debounced', ['u2', i], {}, DEBOUNCED));
      await sleep(100);
    }
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    const values = await Promise.all(calls.map((c) => c.get({ timeout: 15 })));
    expect(new Set(values)).toEqual(new Set(['u1:8', 'u2:8']));
    await sleep(500);
    const runs = lines('debounce');
    expect(runs.filter((r) => r[1] === 'u1').map((r) => r[2])).toEqual(['8']);
    expect(runs.filter((r) => r[1] === 'u2').map((r) => r[2])).toEqual(['8']);
    const u1Start = Number(runs.find((r) => r[1] === 'u1')![4]);
    expect(u1Start).toBeGreaterThanOrEqual(lastCallAt + 480);
    for (const worker of workers) expect(worker.output()).not.toMatch(/ERROR/);
  });

  it("one tenant's single task waits a few task-times behind another's backlog of 20,000", async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    const TASK_MS = 100;
    const BACKLOG = 20_000;
    const enqueueStart = Date.now();
    // Sent in parallel batches: the backlog is queued per key in the flow store too.
    for (let i = 0; i < BACKLOG; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, BACKLOG - i) }, (_, j) =>
          client.sendTask('flow.fair', ['big', i + j, TASK_MS], {}, FAIR),
        ),
      );
    const enqueueMs = Date.now() - enqueueStart;
    const state = await client.flow.state('flow.fair');
    expect(state.waiting).toEqual([{ key: 'big', waiting: BACKLOG }]);
    await threeWorkers(env);
    // Let the backlog run a while, every slot busy with it.
    while (lines('fair').length < 60) await sleep(20);
    const sentAt = Date.now();
    const small = await client.sendTask('flow.fair', ['small', 0, TASK_MS], {}, FAIR);
    await small.get({ timeout: 30 });
    const started = Number(lines('fair').find((r) => r[1] === 'small')![4]);
    const waitMs = started - sentAt;
    const before = lines('fair').filter((r) => r[1] === 'big' && Number(r[4]) < started).length;
    console.log(
      `fairness on ${kind}: backlog ${BACKLOG} enqueued in ${enqueueMs} ms; the other tenant's task started ${waitMs} ms after it was sent (${(waitMs / TASK_MS).toFixed(2)} task-times of ${TASK_MS} ms), ${before} of the backlog started before it`,
    );
    // Twelve slots, each free again within one task-time: a few task-times at most.
    expect(waitMs).toBeLessThan(4 * TASK_MS);
    // FIFO would have served it after the whole backlog.
    expect(before).toBeLessThan(BACKLOG / 10);
  });

  it('a fair task whose worker is killed with SIGKILL mid-run runs again, and the others still run', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    const long = await client.sendTask('flow.fair', ['a', 0, 4000], {}, FAIR);
    const victim = await startWorker(APP, env, ['-c', '1', '-n', 'victim@flow']);
    while (!lines('fair').some((r) => r[1] === 'a')) await sleep(20);
    const others = [];
    for (let i = 1; i <= 3; i++)
      others.push(await client.sendTask('flow.fair', ['b', i, 10], {}, FAIR));
    victim.child.kill('SIGKILL');
    await startWorker(APP, env, ['-c', '2', '-n', 'heir@flow']);
    // The killed run's token comes back (after the broker's lease) and takes the same task.
    expect(await long.get({ timeout: 30 })).toBe(0);
    expect(await Promise.all(others.map((r) => r.get({ timeout: 30 })))).toEqual([1, 2, 3]);
    const runsOfA = lines('fair').filter((r) => r[1] === 'a');
    expect(runsOfA).toHaveLength(2);
    expect(lines('fair').filter((r) => r[1] === 'b')).toHaveLength(3);
    const state = await client.flow.state('flow.fair');
    expect(state.waiting).toEqual([]);
  });

  it("a worker killed with SIGKILL while it runs a singleton's key frees it within the lease", async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    await startWorker(APP, env, ['-c', '2', '-n', 'victim@flow']).then(async (victim) => {
      await client.sendTask('flow.single', ['solo', 20_000]);
      while (lines('single').length === 0) await sleep(20);
      await startWorker(APP, env, ['-c', '2', '-n', 'heir@flow']);
      const second = await client.sendTask('flow.single', ['solo', 10]);
      await sleep(700);
      // The victim still runs the key: nothing else of it has started.
      expect(lines('single')).toHaveLength(1);
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      const deadline = killedAt + 8000;
      while (lines('single').length < 2 && Date.now() < deadline) await sleep(20);
      const starts = lines('single').map((r) => Number(r[4]));
      expect(starts.length).toBeGreaterThanOrEqual(2);
      // Lease 1.5 s, plus the waiting delivery's retry backoff (at most 1 s).
      expect(starts[1]! - killedAt).toBeLessThan(1500 + 1000 + 300);
      // The run that started is the waiting task or the killed one delivered again.
      expect([second.id, lines('single')[0]![2]]).toContain(lines('single')[1]![2]);
    });
  });

  it('a throttle lets one run per period through across the workers, dropping the rest', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    await threeWorkers(env);
    const sent = [];
    for (let i = 0; i < 12; i++) sent.push(await client.sendTask('flow.throttled', [i]));
    const deadline = Date.now() + 15_000;
    let states: string[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(sent.map((r) => r.state()));
      if (states.every((s) => s === 'SUCCESS' || s === 'REVOKED')) break;
      await sleep(50);
    }
    expect(states.filter((s) => s === 'SUCCESS')).toHaveLength(1);
    expect(states.filter((s) => s === 'REVOKED')).toHaveLength(11);
    expect(lines('throttle')).toHaveLength(1);
  });

  it('fifty concurrent enqueuers of one idempotency key make one run', async (ctx) => {
    const { env, client, lines } = await setup(kind, ctx);
    await threeWorkers(env);
    const senders = [client];
    for (let i = 0; i < 4; i++) {
      const other = new Celeriac({
        broker: env.CELERIAC_BROKER_URL!,
        keyPrefix: env.TEST_KEY_PREFIX,
      });
      cleanups.push(() => other.close());
      senders.push(other);
    }
    const key = `order-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        senders[i % 5]!.sendTask('flow.once', ['o-1'], { idempotencyKey: key }),
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const values = await Promise.all(results.map((r) => r.get({ timeout: 15 })));
    expect(new Set(values)).toEqual(new Set(['charged o-1']));
    await sleep(500);
    expect(lines('once')).toHaveLength(1);
  });
});

describe('with RabbitMQ as the broker', () => {
  it('debounce and fairness keep their state in the Redis result backend', async (ctx) => {
    const { env, client, lines } = await setup('amqp', ctx);
    // The backlog is queued before the workers start, so the small tenant's task is last in the queue.
    for (let i = 0; i < 30; i++) await client.sendTask('flow.fair', ['big', i, 20], {}, FAIR);
    const small = await client.sendTask('flow.fair', ['small', 0, 20], {}, FAIR);
    await threeWorkers(env, 2);
    const calls = [];
    for (let i = 1; i <= 4; i++) {
      calls.push(await client.sendTask('flow.debounced', ['u1', i], {}, DEBOUNCED));
      await sleep(50);
    }
    expect(new Set(calls.map((c) => c.id)).size).toBe(1);
    expect(await calls[0]!.get({ timeout: 15 })).toBe('u1:4');
    await small.get({ timeout: 15 });
    expect(lines('debounce').map((r) => r[2])).toEqual(['4']);
    // Six slots take the first tokens at once; the small tenant's task is among the first round.
    const order = lines('fair').map((r) => r[1]);
    expect(order.indexOf('small')).toBeLessThan(8);
  });

  it('a worker whose result backend keeps no flow store refuses to start, naming the tasks', async (ctx) => {
    const { env } = await setup('amqp', ctx, 'rpc://');
    const worker = runCli(['-A', APP, 'worker', '-l', 'info'], env);
    const code = await worker.exited;
    expect(code).not.toBe(0);
    expect(worker.output()).toMatch(/FlowStore|flow store/i);
    expect(worker.output()).toMatch(/flow\.debounced/);
    expect(worker.output()).toMatch(/flow\.fair/);
  });
});
