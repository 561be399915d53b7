/**
 * The test helpers beyond what docs/testing.md shows: runTask's argument checks, abort
 * signal and ctx.retry(); drain's handling of retries and held messages, its timeout, and
 * its refusal of a broker other than memory://.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { Celeriac, Retry, ArgumentValidationError } from '../../src/index.js';
import {
  drain,
  DrainNeedsMemoryBrokerError,
  DrainTimeoutError,
  MemoryBroker,
  runTask,
} from '../../src/testing/index.js';

const apps: Celeriac[] = [];
function makeApp(broker = `memory://helpers-${randomUUID()}`): Celeriac {
  const app = new Celeriac({ broker });
  apps.push(app);
  return app;
}

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

it('runTask checks arguments as a worker does: argsSchema and keyword placement', async () => {
  const app = makeApp();
  const add = app.task('math.add', (a: number, b: number) => a + b, {
    argsSchema: z.tuple([z.number(), z.number()]),
    params: ['a', 'b'],
  });
  expect(await runTask(add, [2, 3])).toBe(5);
  expect(await runTask(add, [2] as unknown as [number, number], { kwargs: { b: 40 } })).toBe(42);
  await expect(runTask(add, ['2', 3] as unknown as [number, number])).rejects.toBeInstanceOf(
    ArgumentValidationError,
  );
});

it('runTask hands the task a signal that the caller aborts, and lets ctx.retry() reach the caller', async () => {
  const app = makeApp();
  let started!: () => void;
  const running$ = new Promise<void>((resolve) => (started = resolve));
  const wait = app.task('slow.wait', async function () {
    const aborted = new Promise((_, reject) =>
      this.signal.addEventListener('abort', () => reject(this.signal.reason as Error)),
    );
    started();
    await aborted;
  });
  const controller = new AbortController();
  const running = runTask(wait, [], { signal: controller.signal });
  await running$;
  controller.abort(new Error('revoked by the test'));
  await expect(running).rejects.toThrow('revoked by the test');

  const flaky = app.task('flaky.call', function () {
    return this.retry({ countdown: 5 });
  });
  const retry = await runTask(flaky, []).catch((error: unknown) => error);
  expect(retry).toBeInstanceOf(Retry);
  expect((retry as Retry).options.countdown).toBe(5);
});

it('drain runs retries until the task succeeds, and leaves held messages when asked', async () => {
  const app = makeApp();
  let calls = 0;
  const flaky = app.task('flaky.succeeds', function () {
    calls += 1;
    if (calls < 3) this.retry({ countdown: 0.05 });
    return calls;
  });
  const result = await flaky.delay();
  const report = await drain(app);
  expect(await result.get()).toBe(3);
  expect(report.deliveries).toBe(3);

  const later = await flaky.applyAsync([], { countdown: 60 });
  const left = await drain(app, { delayed: 'leave' });
  expect(left).toEqual({ deliveries: 0, delayed: 1 });
  expect(await later.state()).toBe('PENDING');
  await expect(drain(app, { timeout: 0.2 })).rejects.toBeInstanceOf(DrainTimeoutError);
});

it('drain serves the queues registered tasks name, not only the default one', async () => {
  const app = makeApp();
  const report = app.task('reports.build', () => 'built', { queue: 'reports' });
  const result = await report.delay();
  await drain(app);
  expect(await result.get()).toBe('built');
});

it('drain refuses an app whose broker is not memory://', async () => {
  const app = makeApp(`sqlite://:memory:`);
  await expect(drain(app)).rejects.toBeInstanceOf(DrainNeedsMemoryBrokerError);
});

it('drain dead-letters a task no worker knows, readable through MemoryBroker', async () => {
  const app = makeApp();
  const result = await app.sendTask('nobody.knows', []);
  await drain(app);
  expect(await result.state()).toBe('FAILURE');
  const broker = await app.broker();
  expect(broker).toBeInstanceOf(MemoryBroker);
  const dead = await (broker as MemoryBroker).deadLetters('celery');
  expect(dead.map((letter) => letter.message.headers.id)).toEqual([result.id]);
  expect(dead[0]?.reason).toContain('nobody.knows');
});
