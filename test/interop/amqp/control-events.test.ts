/**
 * Remote control and events between Python Celery 5.2 and Celeriac on RabbitMQ, in a vhost
 * of this file's own (the pidbox and celeryev exchanges are global in a vhost): Python's
 * `celery inspect` / `control` answered by a Celeriac worker (through `celery.pidbox` and
 * `reply.celery.pidbox` as Celery declares them), `celery events --dump` showing its
 * heartbeats and task events (`celeryev` topic), and `celeriac inspect` / `events`
 * answered by a Python worker and the Celeriac one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { requireService } from '../../support/services.js';
import { createVhost, vhostsUnavailable, type TestVhost } from '../../support/rabbitmq-vhost.js';
import { killAll, runCli, type WorkerProcess } from '../../support/worker-process.js';

const run = promisify(execFile);
/** Each Python CLI call starts an interpreter (1-2 s, far more on a loaded machine). */
const SLOW = 240_000;
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const PYTHON = '/usr/bin/python3';

let vhost: TestVhost | undefined;
let node: WorkerProcess | undefined;
let python: ChildProcess | undefined;
let client: Celeriac | undefined;
let unavailable: string | null = null;

beforeAll(async () => {
  unavailable =
    (await vhostsUnavailable()) ??
    (await run(PYTHON, ['-c', 'import celery'])
      .then(() => null)
      .catch(() => `${PYTHON} cannot import celery`));
  if (unavailable) return;
  vhost = await createVhost('ctl');
  node = runCli(
    ['-A', path.join(FIXTURES, 'node-app.ts'), 'worker', '-n', 'node@amqp', '-E', '-l', 'info'],
    { CELERIAC_BROKER_URL: vhost.url, CELERIAC_RESULT_BACKEND: 'rpc://' },
  );
  await node.waitFor(/ready: queues=/, 30_000);
  client = new Celeriac({ broker: vhost.url, backend: 'rpc://' });
}, 90_000);

afterAll(async () => {
  await client?.close();
  if (python && python.exitCode === null) {
    const exited = new Promise((resolve) => python!.once('exit', resolve));
    python.kill('SIGKILL');
    await exited;
  }
  await killAll();
  await vhost?.dispose();
});

function pyEnv(): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    CELERY_BROKER_URL: vhost!.url.replace(/^amqp:/, 'pyamqp:'),
    CELERY_RESULT_BACKEND: 'rpc://',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

async function celery<T>(...args: string[]): Promise<T> {
  const { stdout } = await run(PYTHON, ['-m', 'celery', '-A', 'pytasks', ...args, '--json'], {
    cwd: FIXTURES,
    env: pyEnv(),
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? 'null') as T;
}

async function ready(ctx: Parameters<typeof requireService>[0]): Promise<void> {
  await requireService(ctx, 'rabbitmq');
  if (unavailable) {
    if (process.env.CI === 'true')
      throw new Error(`CI=true and this interop test needs: ${unavailable}`);
    ctx.skip(unavailable);
  }
}

describe.sequential('Python Celery tools and a Celeriac worker on RabbitMQ', () => {
  it(
    'celery inspect and control get answers from the Celeriac worker',
    async (ctx) => {
      await ready(ctx);
      expect(await celery('inspect', 'ping')).toEqual({ 'node@amqp': { ok: 'pong' } });
      const sleeping = await client!.sendTask('tasks.sleep', [6000]);
      await node!.waitFor(/sleep-started/);
      const active = await celery<Record<string, Array<{ id: string; name: string }>>>(
        'inspect',
        'active',
      );
      expect(active['node@amqp']).toEqual([
        expect.objectContaining({ id: sleeping.id, name: 'tasks.sleep' }),
      ]);
      expect(await celery('control', 'rate_limit', 'tasks.add', '5/s')).toEqual([
        { 'node@amqp': { ok: 'new rate limit set successfully' } },
      ]);
      expect(await sleeping.get({ timeout: 30 })).toBe(6000);
    },
    SLOW,
  );

  it(
    'celery events --dump shows its heartbeats and task events',
    async (ctx) => {
      await ready(ctx);
      const dump = spawn(PYTHON, ['-m', 'celery', '-A', 'pytasks', 'events', '--dump'], {
        cwd: FIXTURES,
        env: pyEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      dump.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      dump.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const waitFor = async (pattern: RegExp) => {
        const until = Date.now() + 20_000;
        while (!pattern.test(text) && Date.now() < until)
          await new Promise((r) => setTimeout(r, 50));
        expect(text).toMatch(pattern);
      };
      try {
        await waitFor(/node@amqp \[[^\]]+\] heartbeat: .*sw_ident=celeriac/);
        const sum = await client!.sendTask<number>('tasks.add', [2, 3]);
        expect(await sum.get({ timeout: 20 })).toBe(5);
        await waitFor(new RegExp(`task succeeded: tasks.add\\(${sum.id}\\).*result=5`));
      } finally {
        const exited = new Promise((resolve) => dump.once('exit', resolve));
        dump.kill('SIGKILL');
        await exited;
      }
    },
    SLOW,
  );

  it(
    'celeriac inspect and events see a Python worker and the Celeriac worker',
    async (ctx) => {
      await ready(ctx);
      python = spawn(
        PYTHON,
        ['-m', 'celery', '-A', 'pytasks', 'worker', '-P', 'solo', '-n', 'py@amqp', '-l', 'INFO'],
        { cwd: FIXTURES, env: pyEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let pyOut = '';
      python.stdout?.on('data', (chunk: Buffer) => (pyOut += chunk.toString()));
      python.stderr?.on('data', (chunk: Buffer) => (pyOut += chunk.toString()));
      const until = Date.now() + 30_000;
      while (!/ ready\./.test(pyOut) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      expect(pyOut).toMatch(/ ready\./);

      const ping = runCli(['inspect', 'ping', '--json', '-t', '2'], {
        CELERIAC_BROKER_URL: vhost!.url,
      });
      expect(await ping.exited).toBe(0);
      expect(JSON.parse(ping.output().trim().split('\n').pop()!)).toEqual({
        'node@amqp': { ok: 'pong' },
        'py@amqp': { ok: 'pong' },
      });
      const events = runCli(['events', '--dump', '--duration', '4'], {
        CELERIAC_BROKER_URL: vhost!.url,
      });
      await events.exited;
      expect(events.output()).toMatch(/py@amqp \[[^\]]+\] heartbeat: .*sw_ident="?py-celery/);
      expect(events.output()).toMatch(/node@amqp \[[^\]]+\] heartbeat: .*sw_ident="?celeriac/);
    },
    SLOW,
  );
});
