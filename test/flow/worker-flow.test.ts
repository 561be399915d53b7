/**
 * Flow control in one worker (memory:// broker and backend): rate limits per worker,
 * global and per key hold what waits outside the slots; concurrency limits per key are
 * never exceeded; a worker whose backend keeps no flow store refuses to start; and
 * `worker.setRateLimit` changes a task's rate while it runs.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, FlowStoreUnavailableError, type TaskOptions } from '../../src/index.js';
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
  start: number;
  end: number;
}

/** An app on memory://; `flowStore: false` gives it a backend that keeps no flow store (as rpc://). */
function makeApp({ flowStore = true } = {}) {
  const store = `flow-${randomUUID()}`;
  const backend = createMemoryBackend(`memory://${store}`);
  if (!flowStore) Object.assign(backend, { flowStore: undefined });
  const app = new Celeriac({ broker: `memory://${store}`, backend });
  const runs: Run[] = [];
  const define = (name: string, options: TaskOptions<[string, number?], void>) =>
    app.task(
      name,
      async (key: string, ms = 0) => {
        const start = Date.now();
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
        runs.push({ name, key, start, end: Date.now() });
      },
      options,
    );
  const start = async (concurrency = 10) => {
    const worker = new Worker(app, {
      concurrency,
      logger: createLineLogger({ level: 'silent' }),
    });
    cleanups.push(async () => {
      await worker.stop({ timeout: 2 });
      await app.close();
    });
    await worker.start();
    return worker;
  };
  return { app, runs, define, start };
}

/** Tasks started per second between the first and the last start. */
function measuredRate(runs: Run[]): number {
  const starts = runs.map((r) => r.start).sort((a, b) => a - b);
  return ((starts.length - 1) * 1000) / (starts.at(-1)! - starts[0]!);
}

describe('rate limits', () => {
  it("a per-worker rate ('20/s', Celery's rate_limit) holds the rate, outside the slots", async () => {
    const { runs, define, start } = makeApp();
    const limited = define('flow.limited', { rateLimit: '20/s' });
    const free = define('flow.free', {});
    // One slot: if waiting held it, the free task sent last would wait for all of them.
    await start(1);
    for (let i = 0; i < 41; i++) await limited.delay('k');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentFree = Date.now();
    await free.delay('f');
    await waitFor('the runs', () => runs.some((r) => r.name === 'flow.free'), 2000);
    // It did not wait behind the limited ones: most of them start after it (load-proof).
    const freeStart = runs.find((r) => r.name === 'flow.free')!.start;
    expect(freeStart - sentFree).toBeLessThan(1000);
    await waitFor(
      'the runs',
      () => runs.filter((r) => r.name === 'flow.limited').length === 41,
      5000,
    );
    const limitedRuns = runs.filter((r) => r.name === 'flow.limited');
    expect(limitedRuns.filter((r) => r.start > freeStart).length).toBeGreaterThan(20);
    const rate = measuredRate(limitedRuns);
    expect(rate).toBeGreaterThan(18);
    expect(rate).toBeLessThan(22);
  });

  it('a global rate per key limits each key on its own', async () => {
    const { runs, define, start } = makeApp();
    const perKey = define('flow.per-key', { rateLimit: { rate: '10/s', key: (key) => key } });
    await start(10);
    for (let i = 0; i < 11; i++) {
      await perKey.delay('a');
      await perKey.delay('b');
    }
    await waitFor('the runs', () => runs.length === 22, 4000);
    for (const key of ['a', 'b']) {
      const rate = measuredRate(runs.filter((r) => r.key === key));
      expect(rate).toBeGreaterThan(9);
      expect(rate).toBeLessThan(11);
    }
  });

  it('worker.setRateLimit sets and removes a rate while the worker runs', async () => {
    const { runs, define, start } = makeApp();
    const task = define('flow.set-rate', {});
    const worker = await start(10);
    worker.setRateLimit('flow.set-rate', '10/s');
    for (let i = 0; i < 6; i++) await task.delay('x');
    await waitFor('the runs', () => runs.length === 6, 3000);
    const rate = measuredRate(runs);
    expect(rate).toBeGreaterThan(9);
    expect(rate).toBeLessThan(11);
    worker.setRateLimit('flow.set-rate', 0);
    const before = Date.now();
    for (let i = 0; i < 20; i++) await task.delay('y');
    await waitFor('the runs', () => runs.length === 26, 2000);
    expect(Date.now() - before).toBeLessThan(500);
  });
});

describe('concurrency limits', () => {
  it('a per-key limit of 1 never runs two of one key at once; other keys run meanwhile', async () => {
    const { runs, define, start } = makeApp();
    const sync = define('flow.sync', { concurrency: { limit: 1, key: (account) => account } });
    await start(10);
    const started = Date.now();
    for (let i = 0; i < 5; i++) for (const key of ['a', 'b', 'c']) await sync.delay(key, 60);
    await waitFor('the runs', () => runs.length === 15, 5000);
    for (const key of ['a', 'b', 'c']) {
      const mine = runs.filter((r) => r.key === key).sort((x, y) => x.start - y.start);
      for (let i = 1; i < mine.length; i++)
        expect(mine[i]!.start).toBeGreaterThanOrEqual(mine[i - 1]!.end);
    }
    // Keys run side by side: about 5 × 60 ms, not 15 × 60 ms.
    expect(Date.now() - started).toBeLessThan(15 * 60);
  });

  it('a global limit of 2 never runs three at once', async () => {
    const { runs, define, start } = makeApp();
    const task = define('flow.two', { concurrency: 2 });
    await start(10);
    for (let i = 0; i < 8; i++) await task.delay(String(i), 40);
    await waitFor('the runs', () => runs.length === 8, 4000);
    const events = runs.flatMap((r) => [
      { at: r.start, d: 1 },
      { at: r.end, d: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.d - b.d);
    let running = 0;
    let most = 0;
    for (const e of events) most = Math.max(most, (running += e.d));
    expect(most).toBe(2);
  });
});

describe('visible state', () => {
  it('app.flow.state shows the running slots per key and the buckets in use', async () => {
    const { app, runs, define, start } = makeApp();
    const task = define('flow.seen', {
      concurrency: { limit: 1, key: (key) => key },
      rateLimit: { rate: '5/s', key: (key) => key },
    });
    await start(4);
    await task.delay('a', 300);
    await task.delay('b', 300);
    await waitFor(
      'both running',
      async () => (await app.flow.state('flow.seen')).running.length === 2,
      2000,
    );
    const state = await app.flow.state('flow.seen');
    expect(state.running).toEqual([
      { key: 'a', held: 1 },
      { key: 'b', held: 1 },
    ]);
    expect(state.rate.map((r) => r.key)).toEqual(['a', 'b']);
    await waitFor('the runs', () => runs.length === 2, 2000);
    await waitFor(
      'slots freed',
      async () => (await app.flow.state('flow.seen')).running.length === 0,
      1000,
    );
  });
});

describe('where the state lives', () => {
  it('a worker whose backend keeps no flow store refuses to start, naming the task', async () => {
    const { define, app } = makeApp({ flowStore: false });
    define('flow.needs-store', { concurrency: 1 });
    const worker = new Worker(app, { logger: createLineLogger({ level: 'silent' }) });
    cleanups.push(() => app.close());
    await expect(worker.start()).rejects.toThrow(FlowStoreUnavailableError);
    await expect(worker.start()).rejects.toThrow(/already stopped/);
  });

  it('a per-worker rate needs no store', async () => {
    const { runs, define, start } = makeApp({ flowStore: false });
    const task = define('flow.local', { rateLimit: '50/s' });
    await start(2);
    await task.delay('x');
    await waitFor('the runs', () => runs.length === 1, 2000);
  });
});
