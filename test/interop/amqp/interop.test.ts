/**
 * Celeriac and real Python Celery (Debian's 5.2.6) over one RabbitMQ, both ways, with the
 * rpc:// result backend and with a Redis result backend: Python's worker runs what
 * Celeriac sends and Celeriac reads the results; the `celeriac worker` CLI runs what
 * Python sends (a countdown too) and Python reads the results; failures are readable on
 * the other side (a JavaScript RangeError reaches Python as ValueError); and both workers
 * share one queue. Each test uses its own queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { AMQP_URL, requireService } from '../../support/services.js';
import { killAll, startWorker } from '../../support/worker-process.js';
import { openAdmin, pythonHas, uniqueName } from '../../brokers/amqp/support.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const NODE_APP = path.join(FIXTURES, 'node-app.ts');
const PY_BROKER = 'amqp://guest:guest@127.0.0.1:5672//';
const BACKENDS = [
  ['rpc://', 'rpc://'],
  ['redis', 'redis://127.0.0.1:6379/7'],
] as const;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

function track(child: ChildProcess): { output: () => string } {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  cleanups.push(() => Promise.resolve(void child.kill('SIGKILL')));
  return { output: () => text };
}

async function until(
  what: string,
  check: () => boolean,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startPythonWorker(
  queue: string,
  backend: string,
): Promise<{ output: () => string }> {
  const child = spawn(
    '/usr/bin/python3',
    [
      '-m',
      'celery',
      '-A',
      'pytasks',
      'worker',
      '-Q',
      queue,
      '-P',
      'solo',
      '-n',
      `py-${queue}@interop`,
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
      '-l',
      'INFO',
    ],
    {
      cwd: FIXTURES,
      env: { ...process.env, CELERY_BROKER_URL: PY_BROKER, CELERY_RESULT_BACKEND: backend },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const tracked = track(child);
  await until(
    'the Python worker to be ready',
    () => /ready\./.test(tracked.output()),
    30_000,
    tracked.output,
  );
  return tracked;
}

/** Runs a Python Celery client script; resolves with the JSON it prints last. */
async function runPythonClient(
  lines: string[],
  queue: string,
  backend: string,
  timeoutMs = 60_000,
): Promise<unknown> {
  const script = [
    'import json, sys',
    'from celery import Celery',
    "app = Celery('client', broker=sys.argv[1], backend=sys.argv[3])",
    'Q = sys.argv[2]',
    ...lines,
  ].join('\n');
  const child = spawn('/usr/bin/python3', ['-c', script, PY_BROKER, queue, backend], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tracked = track(child);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (exit) => {
      clearTimeout(timer);
      resolve(exit);
    });
  });
  const last = tracked
    .output()
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .at(-1);
  if (code !== 0 || !last) throw new Error(`python client failed (${code}):\n${tracked.output()}`);
  return JSON.parse(last);
}

function nodeClient(backend: string): Celeriac {
  const app = new Celeriac({ broker: AMQP_URL, backend });
  cleanups.push(async () => {
    await app.close();
    // Its reply queue (declared for rpc:// results) would otherwise idle for a day.
    const admin = await openAdmin();
    await admin.remove({ queues: [app.oid] });
    await admin.close();
  });
  return app;
}

async function cleanupQueue(queue: string): Promise<void> {
  const admin = await openAdmin();
  cleanups.push(async () => {
    await admin.remove({ queues: [queue], exchanges: [queue] });
    await admin.close();
  });
}

async function requirePythonCelery(ctx: Parameters<typeof requireService>[0]): Promise<void> {
  await requireService(ctx, 'rabbitmq');
  const missing = await pythonHas('celery');
  if (missing) ctx.skip(missing);
}

describe('interop with Python Celery over RabbitMQ', () => {
  it.for(BACKENDS)(
    'a Python worker runs what Celeriac sends; Celeriac reads results and failures (%s)',
    async ([label, backend], ctx) => {
      await requirePythonCelery(ctx);
      if (label === 'redis') await requireService(ctx, 'redis');
      const queue = uniqueName('py-worker');
      await cleanupQueue(queue);
      await startPythonWorker(queue, backend);
      const app = nodeClient(backend);
      const sum = await app.sendTask<number>('tasks.add', [2, 3], { queue });
      const failing = await app.sendTask('tasks.fail', ['boom from python'], { queue });
      expect(await sum.get({ timeout: 20 })).toBe(5);
      const error = await failing.get({ timeout: 20 }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(`${error!.name} ${error!.message}`).toMatch(
        /ValueError.*boom from python|boom from python.*ValueError/s,
      );
      expect(await failing.state()).toBe('FAILURE');
    },
  );

  it.for(BACKENDS)(
    'a Celeriac worker runs what Python sends, a countdown too; Python reads results and failures (%s)',
    async ([label, backend], ctx) => {
      await requirePythonCelery(ctx);
      if (label === 'redis') await requireService(ctx, 'redis');
      const queue = uniqueName('node-worker');
      await cleanupQueue(queue);
      await startWorker(
        NODE_APP,
        { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: backend },
        ['-Q', queue, '-c', '4'],
      );
      const out = await runPythonClient(
        [
          'import time',
          "r1 = app.send_task('tasks.add', args=[2, 3], queue=Q)",
          "r2 = app.send_task('tasks.add', kwargs={'x': 20, 'y': 22}, queue=Q)",
          't0 = time.time()',
          "r3 = app.send_task('tasks.stamp', countdown=2, queue=Q)",
          "r4 = app.send_task('tasks.fail', args=['boom from node'], queue=Q)",
          "out = {'add': r1.get(timeout=30), 'kwargs': r2.get(timeout=30), 'waited': r3.get(timeout=30) - t0}",
          'try:',
          '    r4.get(timeout=30)',
          'except Exception as e:',
          "    out['fail'] = {'type': type(e).__name__, 'message': str(e), 'state': r4.state}",
          'print(json.dumps(out))',
        ],
        queue,
        backend,
      );
      expect(out).toMatchObject({
        add: 5,
        kwargs: 42,
        fail: { type: 'ValueError', message: 'boom from node', state: 'FAILURE' },
      });
      expect((out as { waited: number }).waited).toBeGreaterThanOrEqual(1.9);
    },
  );

  it('shares one queue between a Python worker and a Celeriac worker: both take tasks, every one completes', async (ctx) => {
    await requirePythonCelery(ctx);
    const backend = 'rpc://';
    const queue = uniqueName('mixed');
    await cleanupQueue(queue);
    await startPythonWorker(queue, backend);
    await startWorker(
      NODE_APP,
      { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: backend },
      ['-Q', queue, '-c', '2', '--prefetch-multiplier', '1'],
    );
    const app = nodeClient(backend);
    const results = await Promise.all(
      Array.from({ length: 40 }, () => app.sendTask<string>('tasks.who', [], { queue })),
    );
    const who = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
    expect(who).toHaveLength(40);
    expect(who.some((w) => w.startsWith('node:'))).toBe(true);
    expect(who.some((w) => w.startsWith('python:'))).toBe(true);
  });
});
