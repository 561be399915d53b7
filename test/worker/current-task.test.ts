/**
 * `currentTask()` in a real worker on a real Redis (the async pool, many tasks at once):
 * each run sees its own context before and after its awaits, whether the task is an async
 * function, a plain function that returns a promise from an async helper, or a plain
 * function that returns a value (which the worker runs without entering the
 * AsyncLocalStorage); and outside a task it still throws.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, currentTask } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import type { Logger } from '../../src/logger.js';

const REDIS = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const jitter = () => sleep(Math.floor(Math.random() * 15));

/** After an await in a helper that is not the task's own function. */
async function idAfterAwait(): Promise<string> {
  await jitter();
  return currentTask().id;
}

describe('currentTask() under concurrency', () => {
  it('gives every run its own context, before and after its awaits, whatever shape the task has', async () => {
    const prefix = `celeriac-test-ctx-${process.pid}-${Date.now()}:`;
    const app = new Celeriac({ broker: REDIS, backend: REDIS, keyPrefix: prefix });
    const worker = new Worker(app, { concurrency: 20, logger: quiet });
    cleanups.push(async () => {
      await worker.stop({ timeout: 2 });
      const broker = await app.broker();
      await broker.purge('celery');
      await app.close();
    });
    const asyncTask = app.task('ctx.async', async () => {
      const before = currentTask().id;
      await jitter();
      const middle = currentTask().id;
      await jitter();
      return [before, middle, currentTask().id];
    });
    // Plain functions that return promises: the first from an async helper, the second
    // only from its third run on (its first runs return values).
    const delegating = app.task('ctx.delegate', () => idAfterAwait().then((id) => [id]));
    let mixedRuns = 0;
    const mixed = app.task('ctx.mixed', function () {
      mixedRuns++;
      return mixedRuns < 3 ? [currentTask().id, this.id] : idAfterAwait().then((id) => [id]);
    });
    const plain = app.task('ctx.plain', function (n: number) {
      return [currentTask().id, this.id, n];
    });
    await worker.start();
    // The mixed task's first runs return values, one at a time (so they are its first).
    for (let i = 0; i < 2; i++) {
      const sent = await mixed.delay();
      expect(await sent.get({ timeout: 10 })).toEqual([sent.id, sent.id]);
    }
    const runs = [];
    for (let i = 0; i < 40; i++) {
      runs.push({ sent: await asyncTask.delay(), copies: 3 });
      runs.push({ sent: await delegating.delay(), copies: 1 });
      runs.push({ sent: await plain.delay(i), copies: 2, tail: [i] });
    }
    for (const { sent, copies, tail } of runs)
      expect(await sent.get({ timeout: 20 })).toEqual([
        ...Array<string>(copies).fill(sent.id),
        ...(tail ?? []),
      ]);
    expect(() => currentTask()).toThrow(/outside a running task/);
    await jitter();
    expect(() => currentTask()).toThrow(/outside a running task/);
    // The mixed task turned to returning promises: after its first such run (which may not
    // see its context after the await), its runs do.
    const turned = await mixed.delay();
    await turned.get({ timeout: 10, propagate: false });
    const later = [];
    for (let i = 0; i < 10; i++) later.push(await mixed.delay());
    for (const sent of later) expect(await sent.get({ timeout: 20 })).toEqual([sent.id]);
  }, 60_000);
});
