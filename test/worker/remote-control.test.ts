/**
 * A worker's control plane in one process, on memory:// (which broadcasts in-process) and
 * on SQLite (its broadcast log; the client is a second app on the file, as another process
 * would be): commands reach only the nodes they address, unknown ones get kombu's error
 * reply, task events follow -E and enable_events / disable_events, and worker events
 * bracket the run. Across processes: test/cli/remote-control-sqlite.test.ts, and across
 * languages test/interop/{redis,amqp}.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Celeriac,
  ControlClient,
  Worker,
  receiveEvents,
  type CeleryEvent,
} from '../../src/index.js';
import { createLineLogger } from '../../src/logger.js';
import { compileArguments } from '../../src/cli/commands/remote-control.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

type Kind = 'memory' | 'sqlite';

function urlFor(kind: Kind): string {
  if (kind === 'memory') return `memory://ctl-${randomUUID()}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-ctl-'));
  stops.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  return `sqlite://${path.join(dir, 'ctl.db')}`;
}

async function setup(
  kind: Kind,
  options: { taskEvents?: boolean; autoscale?: { max: number; min: number } } = {},
) {
  const url = urlFor(kind);
  const app = new Celeriac({ broker: url, backend: url });
  app.task('t.add', (a: number, b: number) => a + b);
  const client = new Celeriac({ broker: url, backend: url });
  const events: CeleryEvent[] = [];
  const stopEvents = await receiveEvents(await client.broker(), (event) => events.push(event), {
    wakeup: false,
  });
  const worker = new Worker(app, {
    hostname: 'w1@test',
    taskEvents: options.taskEvents,
    autoscale: options.autoscale,
    logger: createLineLogger({ level: 'error' }),
  });
  await worker.start();
  stops.push(async () => {
    await worker.stop();
    await stopEvents();
    await app.close();
    await client.close();
  });
  return { app: client, worker, events, control: new ControlClient(await client.broker()) };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe.each<Kind>(['memory', 'sqlite'])('remote control in process on %s', (kind) => {
  it('answers the nodes it is addressed as, and kombu errors for unknown commands', async () => {
    const { control } = await setup(kind);
    expect(await control.broadcast('ping', { timeout: 0.5 })).toEqual([
      { 'w1@test': { ok: 'pong' } },
    ]);
    expect(await control.broadcast('ping', { destination: ['w2@test'], timeout: 0.3 })).toEqual([]);
    expect(
      await control.broadcast('ping', { pattern: 'w1@*', matcher: 'glob', timeout: 0.3 }),
    ).toHaveLength(1);
    expect(await control.broadcast('nope', { timeout: 0.5 })).toEqual([
      { 'w1@test': { error: "KeyError('nope')" } },
    ]);
    expect(await control.broadcast('registered', { timeout: 0.5 })).toEqual([
      { 'w1@test': ['t.add'] },
    ]);
  });

  it('sends task events with -E, and enable_events / disable_events switch them', async () => {
    const { app, events, control } = await setup(kind, { taskEvents: false });
    await until(() => events.some((e) => e.type === 'worker-online' && e.hostname === 'w1@test'));
    expect(await (await app.sendTask<number>('t.add', [1, 2])).get({ timeout: 5 })).toBe(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(events.filter((e) => e.type.startsWith('task-'))).toEqual([]);
    expect(await control.broadcast('enable_events', { timeout: 0.5 })).toEqual([
      { 'w1@test': { ok: 'task events enabled' } },
    ]);
    const result = await app.sendTask<number>('t.add', [2, 2]);
    expect(await result.get({ timeout: 5 })).toBe(4);
    await until(() => events.some((e) => e.type === 'task-succeeded' && e.uuid === result.id));
    expect(events.filter((e) => e.uuid === result.id).map((e) => e.type)).toEqual([
      'task-received',
      'task-started',
      'task-succeeded',
    ]);
    expect(events.find((e) => e.type === 'task-succeeded')).toMatchObject({ result: '4' });
    expect(await control.broadcast('disable_events', { timeout: 0.5 })).toEqual([
      { 'w1@test': { ok: 'task events disabled' } },
    ]);
  });
});

describe('autoscale and stats', () => {
  it('autoscale changes the bounds of a worker started with --autoscale, and the prefetch follows max', async () => {
    const { worker, control } = await setup('memory', { autoscale: { max: 4, min: 1 } });
    const to = (method: string, args: Record<string, number> = {}) =>
      control.broadcast(method, { arguments: args, destination: ['w1@test'], timeout: 2 });
    expect(worker.concurrency).toBe(1);
    expect(worker.prefetchCount).toBe(20);
    expect(await to('autoscale', { max: 6, min: 2 })).toEqual([
      { 'w1@test': { ok: 'autoscale now max=6 min=2' } },
    ]);
    expect(worker.concurrency).toBe(2);
    expect(worker.prefetchCount).toBe(30);
    expect(await to('autoscale', { max: 1 })).toEqual([
      { 'w1@test': { ok: 'autoscale now max=1 min=1' } },
    ]);
    expect(worker.concurrency).toBe(1);
    expect(worker.prefetchCount).toBe(5);
    const [stats] = await to('stats');
    expect(stats?.['w1@test']).toMatchObject({
      pool: {
        'max-concurrency': 1,
        processes: [process.pid],
        'max-tasks-per-child': null,
        implementation: 'celeriac:async',
      },
      prefetch_count: 5,
    });
  });

  it('autoscale answers as Celery does on a worker without --autoscale', async () => {
    const { control } = await setup('memory');
    expect(
      await control.broadcast('autoscale', {
        arguments: { max: 4, min: 1 },
        destination: ['w1@test'],
        timeout: 2,
      }),
    ).toEqual([{ 'w1@test': { error: "ValueError('Autoscale not enabled')" } }]);
  });
});

describe('command arguments', () => {
  it('reads rate_limit rates with the flow parser, as Celery spells them', async () => {
    const { control } = await setup('memory');
    const rateLimit = (rate: string | number | null) =>
      control.broadcast('rate_limit', {
        arguments: { task_name: 't.add', rate_limit: rate },
        destination: ['w1@test'],
        timeout: 2,
      });
    for (const rate of ['10/s', '6/m', '36/h', '5', 2.5])
      expect(await rateLimit(rate)).toEqual([
        { 'w1@test': { ok: 'new rate limit set successfully' } },
      ]);
    for (const rate of ['0', 0, null])
      expect(await rateLimit(rate)).toEqual([
        { 'w1@test': { ok: 'rate limit disabled successfully' } },
      ]);
    expect(await rateLimit('fast')).toEqual([
      { 'w1@test': { error: `Invalid rate limit string: ValueError('"fast"')` } },
    ]);
    expect(await rateLimit('10/d')).toEqual([
      { 'w1@test': { error: `Invalid rate limit string: ValueError('"10/d"')` } },
    ]);
  });

  it('compiles positional CLI arguments as Celery does', () => {
    expect(
      compileArguments(
        'rate_limit',
        {
          args: [
            ['task_name', 'str'],
            ['rate_limit', 'str'],
          ],
          help: '',
        },
        ['a.b', '10/m'],
      ),
    ).toEqual({ task_name: 'a.b', rate_limit: '10/m' });
    expect(
      compileArguments('terminate', { args: [['signal', 'str']], variadic: 'task_id', help: '' }, [
        'SIGKILL',
        'id1',
        'id2',
      ]),
    ).toEqual({ signal: 'SIGKILL', task_id: ['id1', 'id2'] });
    expect(() => compileArguments('pool_grow', { args: [['n', 'int']], help: '' }, ['x'])).toThrow(
      /whole number/,
    );
  });
});
