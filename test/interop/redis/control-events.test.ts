/**
 * Remote control and events between Python Celery 5.2 (Debian's) and Celeriac on a private
 * Redis: `celery inspect` and `celery control` get correct answers from a Celeriac worker,
 * and their effects happen (revoke --terminate ends a running task REVOKED, on the async
 * pool and by killing the busy child of a processes pool, which goes on serving; time_limit
 * stops the next run, add_consumer starts a queue, shutdown stops the worker); Python's
 * event receiver and `celery events --dump` get its heartbeats and task events (retried and
 * rejected too, with Celery's field names), and so does `celeriac events`; `celeriac
 * inspect`, `control`, `events` and `status` see a Python worker beside the Celeriac one.
 *
 * Celery's commands run in one Python process (fixtures/pycli.py runs celery.bin.celery, the
 * code `celery ...` runs, per line) and name their destination, so each returns as soon as
 * the node replied instead of after a timeout; `celery inspect ping` and `celery events
 * --dump` also run as `python3 -m celery` subprocesses. Nothing waits on a fixed sleep.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { runCli, type WorkerProcess } from '../../support/worker-process.js';
import { requireService } from '../../support/services.js';
import {
  FIXTURES,
  InteropWorld,
  PYTHON,
  PythonCli,
  pythonCeleryMissing,
} from './interop-support.js';

const run = promisify(execFile);
/** Generous for a loaded machine; every wait below ends as soon as its answer is in. */
const SLOW = 120_000;
/** `-t` for Celery's commands: with a destination they return on the first reply. */
const T = '20';

let world: InteropWorld | undefined;
let node: WorkerProcess | undefined;
let proc: WorkerProcess | undefined;
let cli: PythonCli | undefined;
let client: Celeriac | undefined;
let redis: Redis | undefined;
let missing: string | null = null;

beforeAll(async () => {
  missing = await pythonCeleryMissing();
  if (missing) return;
  world = await InteropWorld.start();
  cli = PythonCli.start(world);
  // Started together: the async-pool node, a processes-pool node on a queue of its own, and
  // a Python worker on another (it only answers remote control here, never takes our tasks).
  [node, proc] = await Promise.all([
    world.nodeWorker(['-n', 'node@interop', '-E', '-c', '4']),
    world.nodeWorker(['-n', 'proc@interop', '-P', 'processes', '-c', '2', '-Q', 'interop-proc']),
    world.pythonWorker('interop-py', 'py'),
  ]);
  client = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
  redis = new Redis(world.brokerUrl);
}, 90_000);

afterAll(async () => {
  redis?.disconnect();
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

/** `celery -A pytasks <args> --json` in pycli.py, parsed; fails the test on a non-zero exit. */
async function celery<T>(...args: string[]): Promise<T> {
  const answer = await cli!.run(['-A', 'pytasks', ...args, '--json']);
  expect(answer.code, answer.output).toBe(0);
  return JSON.parse(answer.output.trim().split('\n').pop() ?? 'null') as T;
}

/** `celery -A pytasks inspect|control <command> [args] -d <node> -t 20 --json`. */
function celeryTo<T>(nodeName: string, ...args: string[]): Promise<T> {
  return celery<T>(...args, '-d', nodeName, '-t', T);
}

/** `celeriac <args>` to its end: exit code and output. */
async function celeriac(...args: string[]): Promise<{ code: number | null; out: string }> {
  const cliRun = runCli(args, { CELERIAC_BROKER_URL: world!.brokerUrl });
  const code = await cliRun.exited;
  return { code, out: cliRun.output() };
}

async function skipUnlessReady(ctx: Parameters<typeof requireService>[0]): Promise<void> {
  await requireService(ctx, 'redis');
  if (missing) ctx.skip(missing);
}

/** Collects a child's output and waits for patterns in it. */
function collect(child: ChildProcess) {
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    text: () => text,
    waitFor: async (pattern: RegExp, ms = 30_000) => {
      const until = Date.now() + ms;
      while (!pattern.test(text) && Date.now() < until)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(text).toMatch(pattern);
    },
  };
}

/** The keys of the task-retried event Celery 5.2's worker sent in the captured vectors. */
function capturedRetriedKeys(): string[] {
  const file = path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    '../../fixtures/celery-wire/celery-5.2.6/redis/worker_events.json',
  );
  const found: string[][] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (record.type === 'task-retried') found.push(Object.keys(record));
      else Object.values(record).forEach(walk);
    }
  };
  walk(JSON.parse(readFileSync(file, 'utf8')));
  expect(found.length).toBeGreaterThan(0);
  return found[0]!.filter((key) => key !== 'local_received').sort();
}

describe.sequential('Python Celery tools and a Celeriac worker on Redis', () => {
  it(
    'celery inspect: ping, registered, stats, active, query_task, reserved, scheduled',
    async (ctx) => {
      await skipUnlessReady(ctx);
      // Once through the real entry point, as an operator types it.
      const { stdout } = await run(
        PYTHON,
        [
          '-m',
          'celery',
          '-A',
          'pytasks',
          'inspect',
          'ping',
          '-d',
          'node@interop',
          '-t',
          T,
          '--json',
        ],
        { cwd: FIXTURES, env: env(), timeout: 60_000 },
      );
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({
        'node@interop': { ok: 'pong' },
      });
      const registered = await celeryTo<Record<string, string[]>>(
        'node@interop',
        'inspect',
        'registered',
      );
      expect(registered['node@interop']).toEqual(
        expect.arrayContaining(['node.add', 'node.gated', 'interop.record']),
      );

      const gated = await client!.sendTask('node.gated', ['inspect']);
      await node!.waitFor(new RegExp(`node.gated\\[${gated.id}\\] started`));
      const active = await celeryTo<Record<string, Array<Record<string, unknown>>>>(
        'node@interop',
        'inspect',
        'active',
      );
      expect(active['node@interop']).toEqual([
        expect.objectContaining({
          id: gated.id,
          name: 'node.gated',
          args: ['inspect'],
          hostname: 'node@interop',
          delivery_info: expect.objectContaining({ routing_key: 'celery' }) as unknown,
        }),
      ]);
      const query = await celeryTo<Record<string, Record<string, [string, { id: string }]>>>(
        'node@interop',
        'inspect',
        'query_task',
        gated.id,
      );
      expect(query['node@interop']?.[gated.id]?.[0]).toBe('active');
      const stats = await celeryTo<Record<string, Record<string, unknown>>>(
        'node@interop',
        'inspect',
        'stats',
      );
      expect(stats['node@interop']).toMatchObject({
        pool: { 'max-concurrency': 4 },
        broker: { transport: 'redis' },
      });
      expect(await celeryTo('node@interop', 'inspect', 'reserved')).toEqual({
        'node@interop': [],
      });
      expect(await celeryTo('node@interop', 'inspect', 'scheduled')).toEqual({
        'node@interop': [],
      });
      await redis!.set('interop:gate:inspect', '1');
      expect(await gated.get({ timeout: 20 })).toBe('inspect');
      const after = await celeryTo<Record<string, Record<string, Record<string, number>>>>(
        'node@interop',
        'inspect',
        'stats',
      );
      expect(after['node@interop']?.total?.['node.gated']).toBe(1);
    },
    SLOW,
  );

  it(
    'celery control: revoke (and terminate), time_limit, rate_limit, pool_grow/shrink, add/cancel_consumer, heartbeat',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const to = <T>(...args: string[]) => celeryTo<T>('node@interop', 'control', ...args);
      const running = await client!.sendTask('node.abortable', [30]);
      await node!.waitFor(new RegExp(`node.abortable\\[${running.id}\\] started`));
      expect(await to('terminate', 'SIGTERM', running.id)).toEqual([
        { 'node@interop': { ok: `terminate: ${running.id}` } },
      ]);
      const outcome = await running.get({ timeout: 20 }).catch((error: Error) => error);
      expect((outcome as Error).name).toBe('TaskRevokedError');
      expect(await running.state()).toBe('REVOKED');

      expect(await to('revoke', 'abc-123')).toEqual([
        { 'node@interop': { ok: 'tasks abc-123 flagged as revoked' } },
      ]);
      expect(await celeryTo('node@interop', 'inspect', 'revoked')).toEqual({
        'node@interop': expect.arrayContaining([running.id, 'abc-123']) as unknown,
      });

      expect(await to('time_limit', 'node.abortable', '0.5', '1')).toEqual([
        { 'node@interop': { ok: 'time limits set successfully' } },
      ]);
      const limited = await client!.sendTask('node.abortable', [5]);
      const limitedOutcome = await limited.get({ timeout: 20 }).catch((error: Error) => error);
      expect((limitedOutcome as Error).message).toMatch(/time limit/i);
      await to('time_limit', 'node.abortable', '0', '0');

      expect(await to('rate_limit', 'node.add', '4/s')).toEqual([
        { 'node@interop': { ok: 'new rate limit set successfully' } },
      ]);
      const started = Date.now();
      const sums = await Promise.all(
        [1, 2, 3, 4, 5].map(async (n) =>
          (await client!.sendTask<number>('node.add', [n, n])).get({ timeout: 20 }),
        ),
      );
      expect(sums).toEqual([2, 4, 6, 8, 10]);
      // Five starts at 4/s: the fifth no sooner than 1 s after the first.
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(await to('rate_limit', 'node.add', '0')).toEqual([
        { 'node@interop': { ok: 'rate limit disabled successfully' } },
      ]);
      expect(await to('rate_limit', 'no.such', '1/s')).toEqual([
        { 'node@interop': { error: 'unknown task' } },
      ]);

      expect(await to('pool_grow', '2')).toEqual([{ 'node@interop': { ok: 'pool will grow' } }]);
      const grown = await celeryTo<
        Record<string, { pool: Record<string, number>; prefetch_count: number }>
      >('node@interop', 'inspect', 'stats');
      expect(grown['node@interop']?.pool['max-concurrency']).toBe(6);
      // The prefetch grows with the pool (6 slots × (multiplier 4 + 1)), so the new slots get work.
      expect(grown['node@interop']?.prefetch_count).toBe(30);
      await to('pool_shrink', '2');
      const shrunk = await celeryTo<Record<string, { prefetch_count: number }>>(
        'node@interop',
        'inspect',
        'stats',
      );
      expect(shrunk['node@interop']?.prefetch_count).toBe(20);

      expect(await to('add_consumer', 'ctl-extra')).toEqual([
        { 'node@interop': { ok: 'add consumer ctl-extra' } },
      ]);
      const extra = await client!.sendTask<number>('node.add', [20, 22], { queue: 'ctl-extra' });
      expect(await extra.get({ timeout: 20 })).toBe(42);
      expect(await to('cancel_consumer', 'ctl-extra')).toEqual([
        { 'node@interop': { ok: 'no longer consuming from ctl-extra' } },
      ]);
      expect(await to('heartbeat')).toEqual([{ 'node@interop': null }]);
    },
    SLOW,
  );

  it(
    'revoke with terminate (app.control.revoke, celery control terminate) kills the busy child of a processes-pool worker, records REVOKED, and the worker goes on',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const forever = await client!.sendTask('node.forever', [], { queue: 'interop-proc' });
      await proc!.waitFor(new RegExp(`node.forever\\[${forever.id}\\] started`));
      const killing = proc!.waitFor(
        new RegExp(`Killing pool pid (\\d+) running node.forever\\[${forever.id}\\]`),
      );
      // What `app.control.revoke(id, terminate=True)` sends (Flower's and Python code's way).
      const answer = await cli!.run({
        revoke: [forever.id],
        terminate: true,
        signal: 'SIGTERM',
        destination: ['proc@interop'],
      });
      expect(JSON.parse(answer.output), answer.output).toEqual([
        { 'proc@interop': { ok: `terminate: ${forever.id}` } },
      ]);
      const pid = Number(/pid (\d+)/.exec(await killing)![1]);
      // The child that spun is gone.
      await expect
        .poll(
          () => {
            try {
              process.kill(pid, 0);
              return 'alive';
            } catch {
              return 'gone';
            }
          },
          { timeout: 20_000 },
        )
        .toBe('gone');
      const outcome = await forever.get({ timeout: 20 }).catch((error: Error) => error);
      expect((outcome as Error).name).toBe('TaskRevokedError');
      expect(await forever.state()).toBe('REVOKED');
      // Both slots still serve: the killed child was replaced.
      const sums = await Promise.all(
        [1, 2, 3].map(async (n) =>
          (await client!.sendTask<number>('node.add', [n, n], { queue: 'interop-proc' })).get({
            timeout: 20,
          }),
        ),
      );
      expect(sums).toEqual([2, 4, 6]);

      // The same by Celery's command line (`celery control terminate <signal> <id>`), with SIGKILL.
      const again = await client!.sendTask('node.forever', [], { queue: 'interop-proc' });
      await proc!.waitFor(new RegExp(`node.forever\\[${again.id}\\] started`));
      const killingAgain = proc!.waitFor(
        new RegExp(`Killing pool pid (\\d+) running node.forever\\[${again.id}\\]`),
      );
      expect(await celeryTo('proc@interop', 'control', 'terminate', 'SIGKILL', again.id)).toEqual([
        { 'proc@interop': { ok: `terminate: ${again.id}` } },
      ]);
      const pidAgain = Number(/pid (\d+)/.exec(await killingAgain)![1]);
      expect(pidAgain).not.toBe(pid);
      const againOutcome = await again.get({ timeout: 20 }).catch((error: Error) => error);
      expect((againOutcome as Error).name).toBe('TaskRevokedError');
      expect(await again.state()).toBe('REVOKED');
      expect(
        await (
          await client!.sendTask<number>('node.add', [4, 4], { queue: 'interop-proc' })
        ).get({
          timeout: 20,
        }),
      ).toBe(8);
      expect(await celeryTo('proc@interop', 'inspect', 'ping')).toEqual({
        'proc@interop': { ok: 'pong' },
      });
      await world!.stopChild(proc!.child);
    },
    SLOW,
  );

  it(
    "Python's event receiver, celery events --dump and celeriac events get the worker's heartbeats and task events, retried and rejected with Celery's fields",
    async (ctx) => {
      await skipUnlessReady(ctx);
      const spawnPy = (args: string[]) => {
        const child = spawn(PYTHON, args, {
          cwd: FIXTURES,
          env: env(),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        world!.children.add(child);
        return child;
      };
      const dumpChild = spawnPy(['-m', 'celery', '-A', 'pytasks', 'events', '--dump']);
      const receiverChild = spawnPy([path.join(FIXTURES, 'pyevents.py')]);
      const ours = runCli(['events', '--dump', '--duration', '90'], {
        CELERIAC_BROKER_URL: world!.brokerUrl,
      });
      world!.children.add(ours.child);
      const dump = collect(dumpChild);
      const receiver = collect(receiverChild);
      const events = () =>
        receiver
          .text()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      // Each is listening once it has heard the worker's heartbeat (sent every 2 s).
      await dump.waitFor(/starting capture/);
      await dump.waitFor(
        /node@interop \[[^\]]+\] heartbeat: active=\d+, clock=\d+, freq=2.*processed=\d+.*sw_ident=celeriac/,
      );
      await receiver.waitFor(/"hostname": "node@interop".*"type": "worker-heartbeat"/);
      await ours.waitFor(/node@interop \[[^\]]+\] heartbeat: /, 30_000);

      // A client with taskSendSentEvent sends task-sent, as Celery's task_send_sent_event.
      const sender = new Celeriac({
        broker: world!.brokerUrl,
        backend: world!.backendUrl,
        taskSendSentEvent: true,
      });
      const sum = await sender.sendTask<number>('node.add', [2, 3]);
      expect(await sum.get({ timeout: 20 })).toBe(5);
      await sender.close();
      await dump.waitFor(
        new RegExp(
          `gen\\d+@\\S+ \\[[^\\]]+\\] task sent: node.add\\(${sum.id}\\) args=\\(2, 3\\).*queue=celery`,
        ),
      );
      await dump.waitFor(
        new RegExp(
          `node@interop \\[[^\\]]+\\] task received: node.add\\(${sum.id}\\) args=\\(2, 3\\)`,
        ),
      );
      await dump.waitFor(new RegExp(`task started: node.add\\(${sum.id}\\)`));
      await dump.waitFor(new RegExp(`task succeeded: node.add\\(${sum.id}\\).*result=5, runtime=`));
      const failed = await client!.sendTask('node.fail', ['boom']);
      await failed.get({ timeout: 20 }).catch(() => undefined);
      await dump.waitFor(
        new RegExp(`task failed: node.fail\\(${failed.id}\\).*exception=Error\\('boom'\\)`),
      );

      // task-retried: the failure that caused the retry, as Celery's worker sends it.
      const retried = await client!.sendTask<string>('node.retry-once');
      expect(await retried.get({ timeout: 20 })).toBe('second try');
      await dump.waitFor(
        new RegExp(
          `task retried: node.retry-once\\(${retried.id}\\) .*exception=TransientError\\('transient problem'\\).*traceback=`,
        ),
      );
      await ours.waitFor(new RegExp(`task retried: .*${retried.id}.*exception=`), 30_000);
      await receiver.waitFor(new RegExp(`"uuid": "${retried.id}".*"type": "task-retried"`));
      const retriedEvent = events().find(
        (event) => event.type === 'task-retried' && event.uuid === retried.id,
      )!;
      expect(
        Object.keys(retriedEvent)
          .filter((key) => key !== 'local_received')
          .sort(),
      ).toEqual(capturedRetriedKeys());
      expect(retriedEvent).toMatchObject({
        hostname: 'node@interop',
        exception: "TransientError('transient problem')",
        traceback: expect.stringContaining('transient problem') as unknown,
      });

      // task-rejected: a message that cannot be decoded, whose headers still name its id.
      const rejectedId = `rejected-${Date.now()}`;
      const broker = await client!.broker();
      await broker.publish(
        {
          body: Buffer.from('this is not JSON'),
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          headers: { lang: 'py', task: 'node.add', id: rejectedId, root_id: rejectedId },
          properties: { delivery_mode: 2, priority: 0, correlation_id: rejectedId },
        },
        { queue: 'celery' },
      );
      await receiver.waitFor(new RegExp(`"uuid": "${rejectedId}".*"type": "task-rejected"`));
      const rejectedEvent = events().find(
        (event) => event.type === 'task-rejected' && event.uuid === rejectedId,
      )!;
      // Celery's task-rejected(uuid, requeue), with the fields every worker event carries.
      expect(
        Object.keys(rejectedEvent)
          .filter((key) => key !== 'local_received')
          .sort(),
      ).toEqual(['clock', 'hostname', 'pid', 'requeue', 'timestamp', 'type', 'utcoffset', 'uuid']);
      expect(rejectedEvent).toMatchObject({ hostname: 'node@interop', requeue: false });
      await dump.waitFor(new RegExp(`task rejected: \\S*\\(?${rejectedId}\\)? .*requeue=False`));
      await ours.waitFor(new RegExp(`task rejected: .*${rejectedId}.*requeue=false`), 30_000);

      for (const child of [dumpChild, receiverChild, ours.child]) await world!.stopChild(child);
    },
    SLOW,
  );

  it(
    'celeriac inspect, control, events and status see a Python worker and the Celeriac worker',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const both = 'node@interop,py@interop';
      // Independent commands, run at once: each pays a Node start, none waits on another.
      const [ping, registered, revoke, nobody, status] = await Promise.all([
        // Addressed to nobody in particular: every node answers, within the timeout.
        celeriac('inspect', 'ping', '--json', '-t', '2'),
        celeriac('inspect', 'registered', '-d', both, '-t', T),
        celeriac('control', 'revoke', 'xyz-1', '--json', '-d', both, '-t', T),
        celeriac('inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5'),
        celeriac('-A', path.join(FIXTURES, 'node-app.ts'), 'status', '-t', '2'),
      ]);
      expect(JSON.parse(ping.out.trim().split('\n').pop()!)).toEqual({
        'node@interop': { ok: 'pong' },
        'py@interop': { ok: 'pong' },
      });
      expect(registered.out).toMatch(/-> py@interop: OK\n(.|\n)*\* py\.add/);
      expect(registered.out).toMatch(/-> node@interop: OK\n(.|\n)*\* node\.add/);
      expect(registered.out).toMatch(/2 nodes online\./);
      expect(JSON.parse(revoke.out.trim().split('\n').pop()!)).toEqual(
        expect.arrayContaining([
          { 'py@interop': { ok: 'tasks xyz-1 flagged as revoked' } },
          { 'node@interop': { ok: 'tasks xyz-1 flagged as revoked' } },
        ]),
      );
      expect(nobody.code).toBe(69);
      expect(nobody.out).toMatch(/No nodes replied/);
      expect(status.out).toMatch(/-> node@interop: OK/);
      expect(status.out).toMatch(/-> py@interop: OK \(pong\)/);
      expect(status.out).toMatch(/2 nodes online\./);

      // `celeriac events` wakes the workers (a heartbeat command): both show up at once.
      const env = { CELERIAC_BROKER_URL: world!.brokerUrl };
      const dump = runCli(['events', '--dump', '--duration', '60'], env);
      const live = runCli(['events', '--duration', '60'], env);
      world!.children.add(dump.child);
      world!.children.add(live.child);
      await dump.waitFor(/py@interop \[[^\]]+\] heartbeat: .*sw_ident="?py-celery/, 30_000);
      await dump.waitFor(/node@interop \[[^\]]+\] heartbeat: .*sw_ident="?celeriac/, 30_000);
      await live.waitFor(/WORKERS\n(.|\n)*node@interop +ONLINE(.|\n)*py@interop +ONLINE/, 30_000);
      await world!.stopChild(dump.child);
      await world!.stopChild(live.child);
    },
    SLOW,
  );

  it(
    'celery control shutdown stops the Celeriac worker warmly',
    async (ctx) => {
      await skipUnlessReady(ctx);
      const replies = await celeryTo<unknown[]>('node@interop', 'control', 'shutdown');
      expect(replies).toEqual([{ 'node@interop': { ok: 'shutting down' } }]);
      expect(await node!.exited).toBe(0);
      expect(node!.output()).toMatch(/Got shutdown from remote/);
    },
    SLOW,
  );
});
