/**
 * Debounce, throttle, singleton and fairness in one worker (memory:// broker and backend):
 * debounced calls run once with the last call's arguments and share one AsyncResult; a
 * throttle drops or queues; a singleton waits or drops; fairness serves keys round-robin;
 * a call's own `flow` options re-key or skip a limit; app.flow.state shows windows and
 * backlogs; a backend without a flow store refuses each of them at start-up.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Celeriac,
  FlowStoreUnavailableError,
  type AsyncResult,
  type TaskOptions,
} from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { waitFor } from '../../src/testing/index.js';
import { createMemoryBackend } from '../../src/backends/memory/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Run {
  name: string;
  key: string;
  value: number;
  start: number;
  end: number;
}

function makeApp({ flowStore = true } = {}) {
  const store = `flow-x-${randomUUID()}`;
  const backend = createMemoryBackend(`memory://${store}`);
  if (!flowStore) Object.assign(backend, { flowStore: undefined });
  const app = new Celeriac({ broker: `memory://${store}`, backend });
  const runs: Run[] = [];
  const define = (name: string, options: TaskOptions<[string, number, number?], string>) =>
    app.task(
      name,
      async (key: string, value: number, ms = 0) => {
        const start = Date.now();
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
        runs.push({ name, key, value, start, end: Date.now() });
        return `${key}:${value}`;
      },
      options,
    );
  const start = async (concurrency = 10) => {
    const worker = new Worker(app, { concurrency, logger: createLineLogger({ level: 'silent' }) });
    cleanups.push(async () => {
      await worker.stop({ timeout: 2 });
      await app.close();
    });
    await worker.start();
    return worker;
  };
  return { app, runs, define, start };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('debounce', () => {
  it('calls within the quiet period run once, with the last arguments, and share one result', async () => {
    const { app, runs, define, start } = makeApp();
    const report = define('flow.report', { debounce: { delay: 0.3, key: (user) => user } });
    await start();
    const results = [];
    let lastCallAt = 0;
    for (let i = 1; i <= 5; i++) {
      lastCallAt = Date.now();
      results.push(await report.delay('u1', i));
      await sleep(50);
    }
    const other = await report.delay('u2', 9);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const state = await app.flow.state('flow.report');
    expect(state.debounce.map((d) => d.key).sort()).toEqual(['u1', 'u2']);
    for (const r of results) expect(await r.get({ timeout: 5 })).toBe('u1:5');
    expect(await other.get({ timeout: 5 })).toBe('u2:9');
    await sleep(200);
    expect(runs.filter((r) => r.key === 'u1').map((r) => r.value)).toEqual([5]);
    // It ran after the quiet period that followed the last call, not the first.
    expect(runs.find((r) => r.key === 'u1')!.start).toBeGreaterThanOrEqual(lastCallAt + 290);
    // A call after the run opens a new window.
    const again = await report.delay('u1', 6);
    expect(again.id).not.toBe(results[0]!.id);
    expect(await again.get({ timeout: 5 })).toBe('u1:6');
  });

  it('a call can take its own key or delay, or skip the debounce', async () => {
    const { runs, define, start } = makeApp();
    const report = define('flow.report2', { debounce: { delay: 5, key: (user) => user } });
    await start();
    const quick = await report.applyAsync(['u1', 1], {
      flow: { debounce: { key: 'k', delay: 0.1 } },
    });
    const now = await report.applyAsync(['u1', 2], { flow: { debounce: false } });
    expect(await now.get({ timeout: 2 })).toBe('u1:2');
    expect(await quick.get({ timeout: 2 })).toBe('u1:1');
    expect(runs).toHaveLength(2);
  });
});

describe('throttle', () => {
  it("mode 'drop': one run per period per key, the others REVOKED", async () => {
    const { runs, define, start } = makeApp();
    const sync = define('flow.throttled', { throttle: { period: 1, key: (k) => k } });
    await start();
    const sent: AsyncResult<string>[] = [];
    for (let i = 0; i < 5; i++) sent.push(await sync.delay('a', i));
    sent.push(await sync.delay('b', 0));
    await waitFor(
      'all settled',
      async () => {
        const states = await Promise.all(sent.map((r) => r.state()));
        return states.every((s) => s === 'SUCCESS' || s === 'REVOKED');
      },
      3000,
    );
    const states = await Promise.all(sent.map((r) => r.state()));
    expect(states.filter((s) => s === 'SUCCESS')).toHaveLength(2);
    expect(runs.filter((r) => r.key === 'a')).toHaveLength(1);
    expect(runs.filter((r) => r.key === 'b')).toHaveLength(1);
    // After the period, the key runs again.
    await sleep(1050);
    expect(await (await sync.delay('a', 9)).get({ timeout: 3 })).toBe('a:9');
  });

  it("mode 'queue': every call runs, one per period", async () => {
    const { runs, define, start } = makeApp();
    const sync = define('flow.throttle-queued', { throttle: { period: 0.2, mode: 'queue' } });
    await start(1);
    const firstSent = Date.now();
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push(await sync.delay('a', i));
    const free = define('flow.free', {});
    await (await free.delay('f', 0)).get({ timeout: 5 });
    await Promise.all(sent.map((r) => r.get({ timeout: 5 })));
    const starts = runs.filter((r) => r.name === 'flow.throttle-queued').map((r) => r.start);
    starts.sort((x, y) => x - y);
    // Waiting does not hold the single slot: the free task ran before the queued ones ended.
    expect(runs.find((r) => r.name === 'flow.free')!.start).toBeLessThan(starts.at(-1)!);
    // Four runs take three periods at least: their tokens are 200 ms apart from the first.
    expect(starts.at(-1)! - firstSent).toBeGreaterThanOrEqual(3 * 200 - 10);
  });
});

describe('singleton', () => {
  it("mode 'wait': a second run of a key waits for the first", async () => {
    const { runs, define, start } = makeApp();
    const job = define('flow.single', { singleton: { key: (k) => k } });
    await start();
    const sent = [
      await job.delay('a', 1, 150),
      await job.delay('a', 2, 10),
      await job.delay('b', 3, 10),
    ];
    await Promise.all(sent.map((r) => r.get({ timeout: 3 })));
    const a = runs.filter((r) => r.key === 'a').sort((x, y) => x.start - y.start);
    expect(a[1]!.start).toBeGreaterThanOrEqual(a[0]!.end);
    // b did not wait for a.
    expect(runs.find((r) => r.key === 'b')!.end).toBeLessThan(a[0]!.end);
  });

  it("mode 'drop': a run of a key while one runs is REVOKED", async () => {
    const { app, runs, define, start } = makeApp();
    const job = define('flow.single-drop', { singleton: { key: (k) => k, mode: 'drop' } });
    await start();
    const first = await job.delay('a', 1, 1500);
    await waitFor(
      'first running',
      async () => (await app.flow.state('flow.single-drop')).running.length === 1,
      2000,
    );
    const second = await job.delay('a', 2, 10);
    const skipping = await job.applyAsync(['a', 4, 0], { flow: { singleton: false } });
    await expect(second.get({ timeout: 3 })).rejects.toThrow(/singleton/);
    expect(await second.state()).toBe('REVOKED');
    // A call may skip the singleton: it ran while the first still ran.
    expect(await skipping.get({ timeout: 3 })).toBe('a:4');
    expect(await first.get({ timeout: 3 })).toBe('a:1');
    // Once it ended, the key runs again.
    expect(await (await job.delay('a', 3, 0)).get({ timeout: 3 })).toBe('a:3');
    expect(runs.map((r) => r.value)).toEqual([4, 1, 3]);
  });
});

describe('fairness', () => {
  it("keys are served round-robin: one key's backlog does not delay another's task", async () => {
    const { app, runs, define, start } = makeApp();
    const work = define('flow.fair', { fairness: { key: (tenant) => tenant } });
    for (let i = 0; i < 200; i++) await work.delay('big', i, 5);
    const small = await work.delay('small', 0, 5);
    const state = await app.flow.state('flow.fair');
    expect(state.waiting).toEqual([
      { key: 'big', waiting: 200 },
      { key: 'small', waiting: 1 },
    ]);
    await start(1);
    await small.get({ timeout: 10 });
    // With one slot, the small tenant's task is among the first two to run, not the 201st.
    const order = runs.map((r) => r.key);
    expect(order.indexOf('small')).toBeLessThan(2);
    await waitFor('the backlog', () => runs.length === 201, 20_000);
    expect(new Set(runs.map((r) => `${r.key}:${r.value}`)).size).toBe(201);
  });

  it('a call may name its own key or skip the fair queue', async () => {
    const { runs, define, start } = makeApp();
    const work = define('flow.fair2', { fairness: { key: (tenant) => tenant } });
    for (let i = 0; i < 20; i++) await work.delay('big', i, 2);
    const mine = await work.applyAsync(['big', 99, 2], { flow: { fairness: { key: 'vip' } } });
    await start(1);
    await mine.get({ timeout: 5 });
    expect(runs.findIndex((r) => r.value === 99)).toBeLessThan(2);
    await waitFor('the backlog', () => runs.length === 21, 5000);
  });
});

describe("a call's own keys for the worker-side limits", () => {
  it('a call re-keys a concurrency limit and skips a rate limit', async () => {
    const { runs, define, start } = makeApp();
    const job = define('flow.rekeyed', {
      concurrency: { limit: 1, key: (k) => k },
      rateLimit: { rate: '1/m' },
    });
    await start();
    // Different argument keys, one call key: they never overlap. No rate limit for them.
    const sent = [];
    for (const k of ['x', 'y', 'z'])
      sent.push(
        await job.applyAsync([k, 1, 80], {
          flow: { concurrency: { key: 'shared' }, rateLimit: false },
        }),
      );
    await Promise.all(sent.map((r) => r.get({ timeout: 3 })));
    const ordered = [...runs].sort((a, b) => a.start - b.start);
    for (let i = 1; i < ordered.length; i++)
      expect(ordered[i]!.start).toBeGreaterThanOrEqual(ordered[i - 1]!.end);
    // The task's own rate (one a minute) still holds a call that does not skip it.
    const first = await job.delay('w', 2, 0);
    const second = await job.delay('w2', 3, 0);
    expect(await first.get({ timeout: 3 })).toBe('w:2');
    await sleep(300);
    expect(await second.state()).toBe('PENDING');
  });
});

describe('visible state', () => {
  it('worker.flowState shows the rate here and what waits, by key; app.flow.state the shared state', async () => {
    const { app, runs, define, start } = makeApp();
    const job = define('flow.seen2', {
      singleton: { key: (k) => k },
      rateLimit: { rate: '20/s', key: (k) => k },
    });
    const worker = await start();
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push(await job.delay('a', i, 300));
    sent.push(await job.delay('b', 0, 300));
    await waitFor(
      'a waits for its singleton',
      () =>
        worker
          .flowState()
          .some((t) =>
            t.waiting.some((w) => w.key === 'a' && w.reason === 'singleton' && w.count === 3),
          ),
      2000,
    );
    await waitFor(
      'a and b running',
      async () => (await app.flow.state('flow.seen2')).running.length === 2,
      2000,
    );
    const mine = worker.flowState().find((t) => t.task === 'flow.seen2')!;
    expect(mine.startedPerSecond).toBeCloseTo(0.2, 5); // two runs (a and b) over the 10 s window
    const shared = await app.flow.state('flow.seen2');
    expect(shared.running.map((r) => r.key).sort()).toEqual(['a', 'b']);
    expect(shared.rate.map((r) => r.key).sort()).toEqual(['a', 'b']);
    await Promise.all(sent.map((r) => r.get({ timeout: 5 })));
    expect(runs).toHaveLength(5);
    expect(worker.flowState().find((t) => t.task === 'flow.seen2')!.waiting).toEqual([]);
  });
});

describe('the no-limit path', () => {
  it('a task without flow options never touches the flow store, even beside limited ones', async () => {
    const name = `flow-plain-${randomUUID()}`;
    const backend = createMemoryBackend(`memory://${name}`);
    const store = backend.flowStore();
    const calls: string[] = [];
    for (const method of Object.getOwnPropertyNames(Object.getPrototypeOf(store))) {
      const original: unknown = Reflect.get(store, method);
      if (typeof original !== 'function' || method === 'constructor') continue;
      Reflect.set(store, method, (...args: unknown[]) => {
        calls.push(method);
        return (original as (...a: unknown[]) => unknown).apply(store, args);
      });
    }
    Object.assign(backend, { flowStore: () => store });
    const app = new Celeriac({ broker: `memory://${name}`, backend });
    const plain = app.task('flow.plain', (n: number) => n);
    const limited = app.task('flow.limited-beside', (n: number) => n, {
      concurrency: 2,
      fairness: { key: (n) => String(n % 2) },
    });
    const worker = new Worker(app, { logger: createLineLogger({ level: 'silent' }) });
    cleanups.push(async () => {
      await worker.stop({ timeout: 2 });
      await app.close();
    });
    await worker.start();
    const opened = calls.length;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => plain.delay(i)));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5 })))).toHaveLength(20);
    expect(calls.slice(opened)).toEqual([]);
    // The limited task does go through it.
    await (await limited.delay(1)).get({ timeout: 5 });
    expect(calls.slice(opened)).toEqual(
      expect.arrayContaining(['fairPush', 'fairTake', 'acquire']),
    );
  });
});

describe('where the state lives', () => {
  it.each([
    ['debounce', { debounce: { delay: 1 } }],
    ['throttle', { throttle: { period: 1 } }],
    ['singleton', { singleton: true }],
    ['fairness', { fairness: { key: (k: string) => k } }],
  ] as const)('a worker without a flow store refuses %s at start-up', async (_name, options) => {
    const { define, app } = makeApp({ flowStore: false });
    define('flow.needs-store', options);
    const worker = new Worker(app, { logger: createLineLogger({ level: 'silent' }) });
    cleanups.push(() => app.close());
    await expect(worker.start()).rejects.toThrow(FlowStoreUnavailableError);
  });

  it('a debounced or fair call without a flow store fails, sending nothing', async () => {
    const { define, app } = makeApp({ flowStore: false });
    cleanups.push(() => app.close());
    const deb = define('flow.deb', { debounce: { delay: 1 } });
    const fair = define('flow.fair3', { fairness: { key: (k) => k } });
    await expect(deb.delay('a', 1)).rejects.toThrow(FlowStoreUnavailableError);
    await expect(fair.delay('a', 1)).rejects.toThrow(FlowStoreUnavailableError);
    const broker = await app.broker();
    expect(await broker.queueLength('celery')).toBe(0);
  });
});
