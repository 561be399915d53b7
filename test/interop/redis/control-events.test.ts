/**
 * Remote control and events between Python Celery 5.2 (Debian's, as subprocesses) and
 * Celeriac on a private Redis: `celery inspect` and `celery control` get correct answers
 * from a Celeriac worker, and their effects happen (revoke --terminate ends a running task
 * REVOKED, time_limit stops the next run, add_consumer starts a queue, shutdown stops the
 * worker); `celery events --dump` shows its heartbeats and task events; and `celeriac
 * inspect`, `control`, `events` and `status` see a Python worker beside the Celeriac one.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { runCli, type WorkerProcess } from '../../support/worker-process.js';
import { requireService } from '../../support/services.js';
import { FIXTURES, InteropWorld, PYTHON, pythonCeleryMissing } from './interop-support.js';

const run = promisify(execFile);
/** Each Python CLI call starts an interpreter (1-2 s, far more on a loaded machine). */
const SLOW = 240_000;

let world: InteropWorld | undefined;
let node: WorkerProcess | undefined;
let client: Celeriac | undefined;
let missing: string | null = null;

beforeAll(async () => {
  missing = await pythonCeleryMissing();
  if (missing) return;
  world = await InteropWorld.start();
  node = await world.nodeWorker(['-n', 'node@interop', '-E', '-c', '4']);
  client = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await world?.dispose();
});

function env(): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    INTEROP_BROKER: world!.brokerUrl,
    INTEROP_BACKEND: world!.backendUrl,
    PYTHONPATH: FIXTURES,
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** `celery -A pytasks <args> --json`, parsed. */
async function celery<T>(...args: string[]): Promise<T> {
  const { stdout } = await run(PYTHON, ['-m', 'celery', '-A', 'pytasks', ...args, '--json'], {
    cwd: FIXTURES,
    env: env(),
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? 'null') as T;
}

/** `celeriac <args>` to its end: exit code and output. */
async function celeriac(...args: string[]): Promise<{ code: number | null; out: string }> {
  const cli = runCli(args, { CELERIAC_BROKER_URL: world!.brokerUrl });
  const code = await cli.exited;
  return { code, out: cli.output() };
}

async function skipUnlessReady(ctx: Parameters<typeof requireService>[0]): Promise<void> {
  await requireService(ctx, 'redis');
  if (missing) ctx.skip(missing);
}

describe.sequential('Python Celery tools and a Celeriac worker on Redis', () => {
  it(
    'celery inspect: ping, registered, stats, active, query_task, reserved, scheduled',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const ping = await celery<Record<string, unknown>>('inspect', 'ping', '-d', 'node@interop');
      expect(ping).toEqual({ 'node@interop': { ok: 'pong' } });
      const registered = await celery<Record<string, string[]>>('inspect', 'registered');
      expect(registered['node@interop']).toEqual(
        expect.arrayContaining(['node.add', 'node.slow-record', 'interop.record']),
      );

      const slow = await client!.sendTask('node.slow-record', [8, 'inspect']);
      await node!.waitFor(new RegExp(`node.slow-record\\[${slow.id}\\] started`));
      const active = await celery<Record<string, Array<Record<string, unknown>>>>(
        'inspect',
        'active',
      );
      expect(active['node@interop']).toEqual([
        expect.objectContaining({
          id: slow.id,
          name: 'node.slow-record',
          args: [8, 'inspect'],
          hostname: 'node@interop',
          delivery_info: expect.objectContaining({ routing_key: 'celery' }) as unknown,
        }),
      ]);
      const query = await celery<Record<string, Record<string, [string, { id: string }]>>>(
        'inspect',
        'query_task',
        slow.id,
      );
      expect(query['node@interop']?.[slow.id]?.[0]).toBe('active');
      const stats = await celery<Record<string, Record<string, unknown>>>('inspect', 'stats');
      expect(stats['node@interop']).toMatchObject({
        pool: { 'max-concurrency': 4 },
        broker: { transport: 'redis' },
      });
      expect(await celery('inspect', 'reserved')).toEqual({ 'node@interop': [] });
      expect(await celery('inspect', 'scheduled')).toEqual({ 'node@interop': [] });
      expect(await slow.get({ timeout: 20 })).toBe('inspect');
      const after = await celery<Record<string, Record<string, Record<string, number>>>>(
        'inspect',
        'stats',
      );
      expect(after['node@interop']?.total?.['node.slow-record']).toBe(1);
    },
    SLOW,
  );

  it(
    'celery control: revoke (and terminate), time_limit, rate_limit, pool_grow/shrink, add/cancel_consumer, heartbeat',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const running = await client!.sendTask('node.abortable', [30]);
      await node!.waitFor(new RegExp(`node.abortable\\[${running.id}\\] started`));
      expect(await celery('control', 'terminate', 'SIGTERM', running.id)).toEqual([
        { 'node@interop': { ok: `terminate: ${running.id}` } },
      ]);
      const outcome = await running.get({ timeout: 20 }).catch((error: Error) => error);
      expect((outcome as Error).name).toBe('TaskRevokedError');
      expect(await running.state()).toBe('REVOKED');

      expect(await celery('control', 'revoke', 'abc-123')).toEqual([
        { 'node@interop': { ok: 'tasks abc-123 flagged as revoked' } },
      ]);
      expect(await celery('inspect', 'revoked')).toEqual({
        'node@interop': expect.arrayContaining([running.id, 'abc-123']) as unknown,
      });

      expect(await celery('control', 'time_limit', 'node.abortable', '0.5', '1')).toEqual([
        { 'node@interop': { ok: 'time limits set successfully' } },
      ]);
      const limited = await client!.sendTask('node.abortable', [5]);
      const limitedOutcome = await limited.get({ timeout: 20 }).catch((error: Error) => error);
      expect((limitedOutcome as Error).message).toMatch(/time limit/i);
      await celery('control', 'time_limit', 'node.abortable', '0', '0');

      expect(await celery('control', 'rate_limit', 'node.add', '2/s')).toEqual([
        { 'node@interop': { ok: 'new rate limit set successfully' } },
      ]);
      const started = Date.now();
      const sums = await Promise.all(
        [1, 2, 3, 4, 5].map(async (n) =>
          (await client!.sendTask<number>('node.add', [n, n])).get({ timeout: 20 }),
        ),
      );
      expect(sums).toEqual([2, 4, 6, 8, 10]);
      // Five starts at 2/s: the fifth no sooner than 2 s after the first.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      expect(await celery('control', 'rate_limit', 'node.add', '0')).toEqual([
        { 'node@interop': { ok: 'rate limit disabled successfully' } },
      ]);
      expect(await celery('control', 'rate_limit', 'no.such', '1/s')).toEqual([
        { 'node@interop': { error: 'unknown task' } },
      ]);

      expect(await celery('control', 'pool_grow', '2')).toEqual([
        { 'node@interop': { ok: 'pool will grow' } },
      ]);
      const grown = await celery<Record<string, { pool: Record<string, number> }>>(
        'inspect',
        'stats',
      );
      expect(grown['node@interop']?.pool['max-concurrency']).toBe(6);
      await celery('control', 'pool_shrink', '2');

      expect(await celery('control', 'add_consumer', 'ctl-extra')).toEqual([
        { 'node@interop': { ok: 'add consumer ctl-extra' } },
      ]);
      const extra = await client!.sendTask<number>('node.add', [20, 22], { queue: 'ctl-extra' });
      expect(await extra.get({ timeout: 20 })).toBe(42);
      expect(await celery('control', 'cancel_consumer', 'ctl-extra')).toEqual([
        { 'node@interop': { ok: 'no longer consuming from ctl-extra' } },
      ]);
      expect(await celery('control', 'heartbeat')).toEqual([{ 'node@interop': null }]);
    },
    SLOW,
  );

  it(
    "celery events --dump shows the Celeriac worker's heartbeats and task events",
    async (ctx) => {
      await skipUnlessReady(ctx);
      const dump = spawn(PYTHON, ['-m', 'celery', '-A', 'pytasks', 'events', '--dump'], {
        cwd: FIXTURES,
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      world!.children.add(dump);
      let text = '';
      dump.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      dump.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const waitFor = async (pattern: RegExp) => {
        const until = Date.now() + 20_000;
        while (!pattern.test(text) && Date.now() < until)
          await new Promise((r) => setTimeout(r, 50));
        expect(text).toMatch(pattern);
      };
      await waitFor(/starting capture/);
      await waitFor(
        /node@interop \[[^\]]+\] heartbeat: active=\d+, clock=\d+, freq=2.*processed=\d+.*sw_ident=celeriac/,
      );
      // A client with taskSendSentEvent sends task-sent, as Celery's task_send_sent_event.
      const sender = new Celeriac({
        broker: world!.brokerUrl,
        backend: world!.backendUrl,
        taskSendSentEvent: true,
      });
      const sum = await sender.sendTask<number>('node.add', [2, 3]);
      expect(await sum.get({ timeout: 20 })).toBe(5);
      await sender.close();
      await waitFor(
        new RegExp(
          `gen\\d+@\\S+ \\[[^\\]]+\\] task sent: node.add\\(${sum.id}\\) args=\\(2, 3\\).*queue=celery`,
        ),
      );
      await waitFor(
        new RegExp(
          `node@interop \\[[^\\]]+\\] task received: node.add\\(${sum.id}\\) args=\\(2, 3\\)`,
        ),
      );
      await waitFor(new RegExp(`task started: node.add\\(${sum.id}\\)`));
      await waitFor(new RegExp(`task succeeded: node.add\\(${sum.id}\\).*result=5, runtime=`));
      const failed = await client!.sendTask('node.fail', ['boom']);
      await failed.get({ timeout: 20 }).catch(() => undefined);
      await waitFor(
        new RegExp(`task failed: node.fail\\(${failed.id}\\).*exception=Error\\('boom'\\)`),
      );
      await world!.stopChild(dump);
    },
    SLOW,
  );

  it(
    'celeriac inspect, control, events and status see a Python worker and the Celeriac worker',
    async (ctx) => {
      await skipUnlessReady(ctx);
      await world!.pythonWorker('celery', 'py');
      const ping = await celeriac('inspect', 'ping', '--json', '-t', '2');
      expect(JSON.parse(ping.out.trim().split('\n').pop()!)).toEqual({
        'node@interop': { ok: 'pong' },
        'py@interop': { ok: 'pong' },
      });
      const registered = await celeriac('inspect', 'registered', '-t', '2');
      expect(registered.out).toMatch(/-> py@interop: OK\n(.|\n)*\* py\.add/);
      expect(registered.out).toMatch(/-> node@interop: OK\n(.|\n)*\* node\.add/);
      expect(registered.out).toMatch(/2 nodes online\./);
      const revoke = await celeriac('control', 'revoke', 'xyz-1', '--json', '-t', '2');
      expect(JSON.parse(revoke.out.trim().split('\n').pop()!)).toEqual(
        expect.arrayContaining([
          { 'py@interop': { ok: 'tasks xyz-1 flagged as revoked' } },
          { 'node@interop': { ok: 'tasks xyz-1 flagged as revoked' } },
        ]),
      );
      const nobody = await celeriac('inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5');
      expect(nobody.code).toBe(69);
      expect(nobody.out).toMatch(/No nodes replied/);

      const status = await celeriac('-A', path.join(FIXTURES, 'node-app.ts'), 'status', '-t', '2');
      expect(status.out).toMatch(/-> node@interop: OK/);
      expect(status.out).toMatch(/-> py@interop: OK \(pong\)/);
      expect(status.out).toMatch(/2 nodes online\./);

      const events = await celeriac('events', '--dump', '--duration', '4');
      expect(events.out).toMatch(/py@interop \[[^\]]+\] heartbeat: .*sw_ident="?py-celery/);
      expect(events.out).toMatch(/node@interop \[[^\]]+\] heartbeat: .*sw_ident="?celeriac/);
      const live = await celeriac('events', '--duration', '3');
      expect(live.out).toMatch(/WORKERS\n(.|\n)*node@interop +ONLINE(.|\n)*py@interop +ONLINE/);
    },
    SLOW,
  );

  it(
    'celery control shutdown stops the Celeriac worker warmly',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const replies = await celery<unknown[]>('control', 'shutdown', '-d', 'node@interop');
      expect(replies).toEqual([{ 'node@interop': { ok: 'shutting down' } }]);
      expect(await node!.exited).toBe(0);
      expect(node!.output()).toMatch(/Got shutdown from remote/);
    },
    SLOW,
  );
});
