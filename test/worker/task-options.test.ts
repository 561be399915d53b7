/**
 * Task options a worker enforces, in process on a real SQLite file: argsSchema and
 * resultSchema with a real Standard Schema library (zod), explicit retries from `this` and
 * `currentTask()`, retry jitter, RECEIVED with trackReceived, and a result that cannot be
 * stored failing once instead of coming back forever.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  Celeriac,
  currentTask,
  RemoteTaskError,
  TaskNotRegisteredError,
  type CeleriacOptions,
} from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import type { Logger } from '../../src/logger.js';
import { backoffSeconds } from '../../src/worker/backoff.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An app on its own SQLite file, a worker for it (started by the caller), and the worker's log lines. */
function setUp(options: CeleriacOptions = {}, concurrency = 4) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-options-'));
  const url = `sqlite://${path.join(dir, 'broker.db')}`;
  const app = new Celeriac({ broker: url, backend: url, ...options });
  const lines: string[] = [];
  const line = (first: unknown, second?: string) => void lines.push(String(second ?? first));
  const logger: Logger = { debug: () => undefined, info: line, warn: line, error: line };
  const worker = new Worker(app, { concurrency, logger });
  cleanups.push(async () => {
    await worker.stop({ timeout: 1 });
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, worker, lines };
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('argsSchema and resultSchema (zod)', () => {
  it('runs the task with the schema’s output and refuses arguments that fail it, without running', async () => {
    const { app, worker } = setUp();
    const seen: unknown[][] = [];
    const invite = app.task(
      'schema.invite',
      (email: string, seats: number) => {
        seen.push([email, seats]);
        return `${email}:${seats}`;
      },
      { argsSchema: z.tuple([z.string().email(), z.coerce.number().int().min(1)]) },
    );
    await worker.start();
    expect(
      await (await app.sendTask('schema.invite', ['ann@example.com', '3'])).get({ timeout: 10 }),
    ).toBe('ann@example.com:3');
    const refused = await failureOf((await invite.delay('not-an-email', 0)).get({ timeout: 10 }));
    expect(refused).toBeInstanceOf(RemoteTaskError);
    expect(refused).toMatchObject({ name: 'ArgumentValidationError' });
    expect((refused as Error).message).toMatch(
      /^Arguments of "schema.invite" failed validation: 0: .*; 1: /,
    );
    expect(seen).toEqual([['ann@example.com', 3]]);
  });

  it('awaits an async schema', async () => {
    const { app, worker } = setUp();
    const taken = new Set(['bob']);
    app.task('schema.signup', (name: string) => name.toUpperCase(), {
      argsSchema: z.tuple([
        z.string().refine((name) => Promise.resolve(!taken.has(name)), 'name taken'),
      ]),
    });
    await worker.start();
    expect(await (await app.sendTask('schema.signup', ['eve'])).get({ timeout: 10 })).toBe('EVE');
    await expect(
      (await app.sendTask('schema.signup', ['bob'])).get({ timeout: 10 }),
    ).rejects.toThrow(/0: name taken/);
  });

  it('stores the result schema’s output, and fails a result that does not match instead of storing it', async () => {
    const { app, worker } = setUp();
    const charge = app.task(
      'schema.charge',
      (cents: number) => ({ chargeId: cents > 0 ? `ch_${cents}` : (null as unknown as string) }),
      {
        resultSchema: z
          .object({ chargeId: z.string() })
          .transform((value) => ({ ...value, checked: true })),
      },
    );
    await worker.start();
    expect(await (await charge.delay(250)).get({ timeout: 10 })).toEqual({
      chargeId: 'ch_250',
      checked: true,
    });
    const bad = await charge.delay(0);
    await expect(bad.get({ timeout: 10 })).rejects.toMatchObject({
      name: 'ResultValidationError',
      message: expect.stringMatching(
        /The result of "schema.charge" failed validation, so it was not stored: chargeId: /,
      ) as unknown,
    });
    expect(await bad.state()).toBe('FAILURE');
  });
});

describe('retries', () => {
  class CardError extends Error {}

  it('retries on this.retry() and currentTask().retry(), then fails with the given error past maxRetries', async () => {
    const { app, worker, lines } = setUp();
    let viaThis = 0;
    let viaContext = 0;
    app.task('retry.this', function () {
      viaThis++;
      if (this.retries < 2) this.retry({ countdown: 0.05 });
      return this.retries;
    });
    app.task('retry.context', () => {
      viaContext++;
      currentTask().retry({
        countdown: 0.05,
        maxRetries: 2,
        error: new CardError('card declined'),
      });
    });
    await worker.start();
    expect(await (await app.sendTask('retry.this', [])).get({ timeout: 10 })).toBe(2);
    expect(viaThis).toBe(3);
    const failed = await app.sendTask('retry.context', []);
    await expect(failed.get({ timeout: 10 })).rejects.toMatchObject({
      name: 'CardError',
      message: 'card declined',
    });
    expect(viaContext).toBe(3); // the first run and two retries
    expect(lines.filter((line) => line.includes(`retry.context[${failed.id}] retry`))).toHaveLength(
      2,
    );
    await expect
      .poll(() => lines)
      .toContain(`Task retry.context[${failed.id}] raised CardError: card declined`);
  });

  it('spreads retry delays with jitter over the backoff window, and uses the window itself without', async () => {
    const { app, worker, lines } = setUp({}, 20);
    const options = { autoretryFor: [CardError], maxRetries: 1, retryBackoff: 10 };
    app.task(
      'retry.jitter',
      () => {
        throw new CardError('declined');
      },
      options,
    );
    app.task(
      'retry.exact',
      () => {
        throw new CardError('declined');
      },
      { ...options, retryJitter: false },
    );
    await worker.start();
    const sent = await app.sendMany([
      ...Array.from({ length: 12 }, () => ({ task: 'retry.jitter', args: [] })),
      ...Array.from({ length: 3 }, () => ({ task: 'retry.exact', args: [] })),
    ]);
    await expect
      .poll(() => lines.filter((line) => / retry 1\/1 in /.test(line)).length, { timeout: 10_000 })
      .toBe(sent.length);
    const delays = (name: string) =>
      lines
        .filter((line) => line.startsWith(`Task ${name}[`) && line.includes(' retry 1/1 in '))
        .map((line) => Number(/ in ([\d.]+) s/.exec(line)?.[1]));
    const jittered = delays('retry.jitter');
    expect(jittered.every((s) => s >= 1 && s <= 10)).toBe(true);
    expect(new Set(jittered).size).toBeGreaterThan(1);
    expect(delays('retry.exact')).toEqual([10, 10, 10]);
  });

  it('computes full jitter between a tenth of the base and the capped exponential ceiling', () => {
    const options = { base: 2, max: 30, jitter: true };
    expect(backoffSeconds(0, options, () => 0)).toBe(0.2);
    expect(backoffSeconds(3, options, () => 0.5)).toBe(8);
    expect(backoffSeconds(10, options, () => 0.999)).toBeCloseTo(29.97);
    expect(backoffSeconds(3, { ...options, jitter: false })).toBe(16);
    expect(backoffSeconds(10, { ...options, jitter: false })).toBe(30);
  });
});

describe('states and names', () => {
  it('stores RECEIVED for a task a worker holds while it waits for a slot, with trackReceived', async () => {
    const { app, worker } = setUp({ trackReceived: true }, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.task('states.block', () => gate);
    app.task('states.next', () => 'done');
    await worker.start();
    const blocking = await app.sendTask('states.block', []);
    await expect.poll(() => worker.activeCount).toBe(1);
    const next = await app.sendTask('states.next', []);
    await expect.poll(() => next.state(), { timeout: 5000 }).toBe('RECEIVED');
    expect((await next.meta()).result).toEqual({ hostname: worker.hostname });
    release();
    expect(await next.get({ timeout: 10 })).toBe('done');
    await blocking.get({ timeout: 10 });
  });

  it('stores nothing for RECEIVED by default, as Celery', async () => {
    const { app, worker } = setUp({}, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.task('states.block', () => gate);
    app.task('states.next', () => 'done');
    await worker.start();
    await app.sendTask('states.block', []);
    await expect.poll(() => worker.activeCount).toBe(1);
    const next = await app.sendTask('states.next', []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await next.state()).toBe('PENDING');
    release();
    expect(await next.get({ timeout: 10 })).toBe('done');
  });

  it('fails a task whose result cannot be stored as JSON once, instead of running it again and again', async () => {
    const { app, worker } = setUp();
    let runs = 0;
    app.task('states.cyclic', () => {
      runs++;
      const node: Record<string, unknown> = {};
      node.self = node;
      return node;
    });
    await worker.start();
    const result = await app.sendTask('states.cyclic', []);
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({ name: 'EncodeError' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runs).toBe(1);
  });

  it('throws TaskNotRegisteredError where a name is looked up strictly', () => {
    const app = new Celeriac({ broker: 'sqlite://:memory:' });
    app.task('known', () => 1);
    expect(app.requireTask('known').name).toBe('known');
    expect(() => app.requireTask('unknown')).toThrow(TaskNotRegisteredError);
    expect(app.getTask('unknown')).toBeUndefined();
  });
});
