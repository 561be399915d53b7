/**
 * The worker's own hooks that remote control calls, in process on memory:// (async pool):
 * revoke (with and without terminate), pool grow and shrink, per-task time limits set at
 * run time, autoscale's growth; and the error a threads pool gives without its module.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, TimeLimitExceededError } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;
function setup(options: ConstructorParameters<typeof Worker>[1] = {}) {
  const url = `memory://hooks-${process.pid}-${++counter}`;
  const app = new Celeriac({ broker: url, backend: url });
  const worker = new Worker(app, { logger: silent, ...options });
  cleanups.push(async () => {
    await worker.stop({ timeout: 1 });
    await app.close();
  });
  return { app, worker };
}

describe('worker hooks', () => {
  it('revoke() keeps a task from running and terminate stops a running one, both REVOKED', async () => {
    const { app, worker } = setup({ concurrency: 2 });
    app.task('hooks.wait', async function () {
      await sleep(10_000, undefined, { signal: this.signal });
      return 'not reached';
    });
    app.task('hooks.noop', () => 'ran');
    await worker.start();
    const running = await app.sendTask('hooks.wait', []);
    await expect.poll(() => worker.activeCount).toBe(1);
    expect(worker.revoke([running.id, 'not-running'], { terminate: true })).toEqual([running.id]);
    await expect(running.get({ timeout: 5 })).rejects.toThrow(/revoked/);
    expect(await running.state()).toBe('REVOKED');
    worker.revoke('later-id');
    const later = await app.sendTask('hooks.noop', [], { taskId: 'later-id' });
    await expect(later.get({ timeout: 5 })).rejects.toThrow(/revoked/);
    expect(await later.state()).toBe('REVOKED');
  });

  it('poolGrow() and poolShrink() change how many tasks run at once', async () => {
    const { app, worker } = setup({ concurrency: 1 });
    let running = 0;
    let most = 0;
    app.task('hooks.hold', async () => {
      most = Math.max(most, ++running);
      await sleep(150);
      running--;
      return null;
    });
    await worker.start();
    worker.poolGrow(2);
    expect(worker.concurrency).toBe(3);
    expect(worker.poolInfo()).toEqual({
      kind: 'async',
      size: 3,
      members: [],
      maxTasksPerChild: null,
    });
    await Promise.all(
      (await Promise.all(Array.from({ length: 6 }, () => app.sendTask('hooks.hold', [])))).map(
        (r) => r.get({ timeout: 10 }),
      ),
    );
    expect(most).toBe(3);
    worker.poolShrink(5);
    expect(worker.concurrency).toBe(1);
    most = 0;
    await Promise.all(
      (await Promise.all(Array.from({ length: 3 }, () => app.sendTask('hooks.hold', [])))).map(
        (r) => r.get({ timeout: 10 }),
      ),
    );
    expect(most).toBe(1);
  });

  it('setTimeLimit() applies a hard limit to the next runs of a task', async () => {
    const { app, worker } = setup({ concurrency: 1 });
    app.task('hooks.slow', async function () {
      await sleep(2000, undefined, { signal: this.signal });
      return 'slow';
    });
    await worker.start();
    expect(worker.setTimeLimit('hooks.slow', { hard: 0.2 })).toBe(true);
    expect(worker.setTimeLimit('no.such.task', { hard: 1 })).toBe(false);
    const limited = await app.sendTask('hooks.slow', []);
    await expect(limited.get({ timeout: 5 })).rejects.toMatchObject({ name: 'TimeLimitExceeded' });
    expect(new TimeLimitExceededError(0.2).message).toMatch(/hard time limit/);
  });

  it('autoscale grows the async pool while tasks wait', async () => {
    const { app, worker } = setup({ autoscale: { max: 4, min: 1 } });
    app.task('hooks.hold', async () => {
      await sleep(400);
      return null;
    });
    await worker.start();
    expect(worker.concurrency).toBe(1);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => app.sendTask('hooks.hold', [])),
    );
    await expect.poll(() => worker.concurrency, { timeout: 5000 }).toBe(4);
    await Promise.all(results.map((r) => r.get({ timeout: 10 })));
  });

  it('refuses a threads pool without the module to load in its threads', () => {
    const app = new Celeriac({ broker: 'memory://hooks-no-module' });
    expect(() => new Worker(app, { pool: 'threads', logger: silent })).toThrow(/appModule/);
  });
});
