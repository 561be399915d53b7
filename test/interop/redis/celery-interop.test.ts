/**
 * Celeriac and real Python Celery (the system's python3-celery) on one Redis of the test's
 * own: Python sends and a Celeriac worker runs, Celeriac sends and a Python worker runs,
 * both workers share a queue and each task runs once, failures cross both ways with their
 * message, and countdown, eta, expires and priority are honoured in both directions.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { Celeriac } from '../../../src/index.js';
import { waitFor } from '../../../src/testing/broker-conformance.js';
import { InteropWorld, pythonCeleryMissing } from './interop-support.js';

interface PyResult {
  state: string;
  result?: unknown;
  error?: { type: string; module: string; message: string };
}

const missing = await pythonCeleryMissing();
if (missing && process.env.CI === 'true')
  throw new Error(`CI=true and Python Celery is required: ${missing}`);

describe('Redis interop with Python Celery', () => {
  let world: InteropWorld;
  let app: Celeriac;
  let raw: Redis;

  // Reported as skipped with the reason (and a failure under CI=true, above).
  beforeEach((ctx) => {
    if (missing !== null) ctx.skip(`Python Celery not available: ${missing}`);
  });

  beforeAll(async () => {
    if (missing !== null) return;
    world = await InteropWorld.start();
    app = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
    raw = new Redis(world.brokerUrl);
  });

  afterAll(async () => {
    await app?.close();
    raw?.disconnect();
    await world?.dispose();
  });

  /**
   * Stops a worker (SIGKILL) once nothing is left unacked, or after 5 s: killed between a
   * task's result and its ack, a worker leaves that task to be restored, and run again,
   * in a later test (as at-least-once delivery promises).
   */
  const stop = async (child: ChildProcess): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await raw.hlen('unacked')) > 0)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await world.stopChild(child);
  };

  const runs = async (): Promise<Array<[string, string]>> =>
    (await raw.lrange('interop:runs', 0, -1)).map((line) => JSON.parse(line) as [string, string]);

  describe('Python sends, a Celeriac worker runs', () => {
    it('runs the task and Python reads the result', async () => {
      const worker = await world.nodeWorker();
      const sent = await world.py<{ id: string }>('send', 'node.add', '[2, 3]');
      const got = await world.py<PyResult>('get', sent.id);
      expect(got).toEqual({ state: 'SUCCESS', result: 5 });
      await stop(worker.child);
    });

    it('reports a Celeriac failure to Python as a raised exception with its message', async () => {
      const worker = await world.nodeWorker();
      const sent = await world.py<{ id: string }>('send', 'node.fail', '["kaboom from node"]');
      const got = await world.py<PyResult>('get', sent.id);
      expect(got.state).toBe('FAILURE');
      expect(got.error?.message).toContain('kaboom from node');
      await stop(worker.child);
    });

    it('honours a Python countdown and eta: the Celeriac worker starts the task no earlier', async () => {
      const worker = await world.nodeWorker();
      const sentAt = Date.now() / 1000;
      const countdown = await world.py<{ id: string }>(
        'send',
        'node.now',
        '[]',
        '{"countdown": 2}',
      );
      const eta = new Date(Date.now() + 2500).toISOString();
      const byEta = await world.py<{ id: string }>(
        'send',
        'node.now',
        '[]',
        JSON.stringify({ eta }),
      );
      const first = await world.py<PyResult>('get', countdown.id, '30');
      const second = await world.py<PyResult>('get', byEta.id, '30');
      expect(first.result as number).toBeGreaterThanOrEqual(sentAt + 1.9);
      expect(second.result as number).toBeGreaterThanOrEqual(Date.parse(eta) / 1000 - 0.1);
      await stop(worker.child);
    });

    it('does not run a task Python sent with an expiry that passed before a worker got it', async () => {
      const sent = await world.py<{ id: string }>('send', 'node.add', '[1, 1]', '{"expires": 1}');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const worker = await world.nodeWorker();
      const got = await world.py<PyResult>('get', sent.id);
      expect(got.state).toBe('REVOKED');
      await stop(worker.child);
    });

    it('serves Python’s priorities lower number first', async () => {
      await raw.del('interop:runs');
      for (const [tag, priority] of [
        ['low', 9],
        ['high', 0],
        ['mid', 5],
      ] as const) {
        await world.py(
          'send',
          'interop.record',
          JSON.stringify([tag]),
          JSON.stringify({ priority }),
        );
      }
      const worker = await world.nodeWorker(['-c', '1', '--prefetch-multiplier', '1']);
      await waitFor('three runs', async () => (await runs()).length === 3, 20_000);
      expect((await runs()).map(([, tag]) => tag)).toEqual(['high', 'mid', 'low']);
      await stop(worker.child);
    });
  });

  describe('Celeriac sends, a Python worker runs', () => {
    it('runs the task and Celeriac reads the result', async () => {
      const worker = await world.pythonWorker();
      const add = app.signature<[number, number], number>('py.add');
      const result = await add.delay(20, 22);
      expect(await result.get({ timeout: 20 })).toBe(42);
      await stop(worker);
    });

    it('reports a Python failure to Celeriac as a rejected get() with its type and message', async () => {
      const worker = await world.pythonWorker();
      const fail = app.signature<[string], never>('py.fail');
      const result = await fail.delay('boom 42 from python');
      const error = (await result.get({ timeout: 20 }).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toContain('boom 42 from python');
      expect(String(error.name) + error.message).toContain('ValueError');
      await stop(worker);
    });

    it('honours a Celeriac countdown and eta in the Python worker (delayMode=queue, for queues only Celery consumes)', async () => {
      const worker = await world.pythonWorker();
      const sender = new Celeriac({
        broker: `${world.brokerUrl}?delayMode=queue`,
        backend: world.backendUrl,
      });
      try {
        const now = sender.signature<[], number>('py.now');
        const sentAt = Date.now() / 1000;
        const byCountdown = await now.applyAsync([], { countdown: 2 });
        const eta = new Date(Date.now() + 2500);
        const byEta = await now.applyAsync([], { eta });
        expect(await byCountdown.get({ timeout: 30 })).toBeGreaterThanOrEqual(sentAt + 1.9);
        expect(await byEta.get({ timeout: 30 })).toBeGreaterThanOrEqual(eta.getTime() / 1000 - 0.1);
      } finally {
        await sender.close();
        await stop(worker);
      }
    });

    it('lets a Celeriac worker of another queue promote a countdown for a Python worker (default delayMode)', async () => {
      const pyWorker = await world.pythonWorker();
      // Any Celeriac consumer promotes due delayed messages, whatever queue it consumes.
      const promoter = await world.nodeWorker(['-Q', 'node-only']);
      // A sender gone before the due time: only the worker can have promoted the message.
      const sender = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
      const sentAt = Date.now() / 1000;
      const result = await sender.signature<[], number>('py.now').applyAsync([], { countdown: 2 });
      await sender.close();
      expect(await raw.zcard('celeriac.delayed')).toBe(1);
      expect(await app.asyncResult<number>(result.id).get({ timeout: 30 })).toBeGreaterThanOrEqual(
        sentAt + 1.9,
      );
      await stop(promoter.child);
      await stop(pyWorker);
    });

    it('has the sending process promote its own countdown for a Python worker, with no Celeriac worker anywhere', async () => {
      const pyWorker = await world.pythonWorker();
      const sender = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
      try {
        const sentAt = Date.now() / 1000;
        const result = await sender
          .signature<[], number>('py.now')
          .applyAsync([], { countdown: 2 });
        expect(await raw.zcard('celeriac.delayed')).toBe(1);
        expect(await result.get({ timeout: 30 })).toBeGreaterThanOrEqual(sentAt + 1.9);
        expect(await raw.zcard('celeriac.delayed')).toBe(0);
      } finally {
        await sender.close();
        await stop(pyWorker);
      }
    });

    it('has the Python worker discard a task Celeriac sent with a passed expiry', async () => {
      const add = app.signature<[number, number], number>('py.add');
      const result = await add.applyAsync([1, 2], { expires: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const worker = await world.pythonWorker();
      const got = await world.py<PyResult>('get', result.id);
      expect(got.state).toBe('REVOKED');
      await stop(worker);
    });

    it('has the Python worker serve Celeriac’s higher priorities first', async () => {
      await raw.del('interop:runs');
      const record = app.signature<[string], string>('interop.record');
      for (const [tag, priority] of [
        ['low', 0],
        ['high', 9],
        ['mid', 5],
      ] as const)
        await record.applyAsync([tag], { priority });
      const worker = await world.pythonWorker();
      await waitFor('three runs', async () => (await runs()).length === 3, 20_000);
      expect((await runs()).map(([, tag]) => tag)).toEqual(['high', 'mid', 'low']);
      await stop(worker);
    });
  });

  describe('a Python worker and a Celeriac worker on one queue', () => {
    it('keeps a long Celeriac task from a Python worker’s restore pass: heartbeats keep its unacked score fresh', async () => {
      await raw.del('interop:runs');
      // Lease 3 s, so heartbeats every second; the Python worker restores after 2 s of silence.
      const nodeWorker = await world.nodeWorker(['-c', '1'], { INTEROP_LEASE_MS: '3000' });
      const slow = app.signature<[number, string], string>('node.slow-record');
      const result = await slow.delay(7, 'long');
      await waitFor('the long task to start', async () => (await runs()).length === 1, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      // Started now, a Celery worker runs its restore pass (kombu's restore_visible) at once.
      const pyWorker = await world.pythonWorker('celery', 'py', {
        INTEROP_VISIBILITY_TIMEOUT: '2',
      });
      expect(await result.get({ timeout: 20 })).toBe('long');
      // A restored copy would start right after (it waits behind the first in the worker).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await runs()).toEqual([
        ['node', 'start:long'],
        ['node', 'long'],
      ]);
      await stop(pyWorker);
      await stop(nodeWorker.child);
    });

    it('runs every task once, whichever side sent it', async () => {
      await raw.del('interop:runs');
      const pyWorker = await world.pythonWorker();
      const nodeWorker = await world.nodeWorker(['-c', '4']);
      const record = app.signature<[string], string>('interop.record');
      const tags = Array.from({ length: 120 }, (_, i) => `t-${i}`);
      for (const tag of tags.slice(0, 60)) await record.delay(tag);
      for (const tag of tags.slice(60, 90))
        await world.py('send', 'interop.record', JSON.stringify([tag]));
      await app.sendMany(tags.slice(90).map((tag) => ({ task: 'interop.record', args: [tag] })));
      await waitFor('120 runs', async () => (await runs()).length >= tags.length, 40_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const done = await runs();
      expect(done.length).toBe(tags.length);
      expect(new Set(done.map(([, tag]) => tag))).toEqual(new Set(tags));
      expect(new Set(done.map(([who]) => who))).toEqual(new Set(['python', 'node']));
      await stop(nodeWorker.child);
      await stop(pyWorker);
    });
  });
});
