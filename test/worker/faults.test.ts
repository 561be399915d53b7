/**
 * Real worker processes (`celeriac worker`) on SQLite and on Redis, fed what goes wrong: a
 * retry that cannot be sent, arguments nested past the JSON limit, messages the worker must
 * refuse, names and messages that try to forge log lines, a task that ignores its signal
 * at a forced shutdown. Runs are counted in a file the tasks append to.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac, RemoteTaskError, TaskNotRegisteredError } from '../../src/index.js';
import { encodeTaskMessage } from '../../src/protocol/task-message.js';
import { MAX_JSON_DEPTH } from '../../src/protocol/json.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/worker/fixtures/faults-app.ts';

interface Setup {
  client: Celeriac;
  env: Record<string, string>;
  runs: () => string[];
  deadLetters: () => Promise<unknown[]>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let counter = 0;

async function setUp(ctx: TestContext, broker: 'sqlite' | 'redis'): Promise<Setup> {
  if (broker === 'redis') await requireService(ctx, 'redis');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-faults-'));
  const runLog = path.join(dir, 'runs.log');
  const prefix = `celeriac-test:faults-${process.pid}-${++counter}:`;
  const url = broker === 'sqlite' ? `sqlite://${path.join(dir, 'broker.db')}` : REDIS_URL;
  const env: Record<string, string> = { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: runLog };
  if (broker === 'redis') env.TEST_KEY_PREFIX = prefix;
  const client = new Celeriac({ broker: url, keyPrefix: broker === 'redis' ? prefix : undefined });
  cleanups.push(async () => {
    await client.close();
    if (broker === 'redis') await deleteRedisPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    client,
    env,
    runs: () =>
      existsSync(runLog) ? readFileSync(runLog, 'utf8').split('\n').filter(Boolean) : [],
    deadLetters: async () => {
      const held = (await client.broker()) as unknown as {
        deadLetters(queue: string): Promise<unknown[]>;
      };
      return held.deadLetters('celery');
    },
  };
}

/** A task message for `task` whose body is replaced by `body` (headers still name the task and id). */
function withBody(
  task: string,
  id: string,
  body: string,
  contentType = 'application/json',
): TransportMessage {
  const message = encodeTaskMessage({ task, id, args: [], kwargs: {}, origin: 'test' });
  return { ...message, body: Buffer.from(body), contentType };
}

const EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

describe.each(['sqlite', 'redis'] as const)('worker faults on %s', (broker) => {
  it('fails a task whose retry cannot be sent, after one run, instead of requeuing it forever', async (ctx) => {
    const { client, env, runs, deadLetters } = await setUp(ctx, broker);
    const worker = await startWorker(APP, env, ['-c', '2']);
    const result = await client.sendTask('faults.breaksItsRetry', [{ order: 7 }]);
    const error = await result.get({ timeout: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject({ name: 'RetryNotSentError' });
    expect((error as Error).message).toMatch(
      /asked to be retried, but the retry could not be sent: Cannot write JSON nested deeper/,
    );
    await sleep(500); // a requeue loop would have run it hundreds of times by now
    expect(runs()).toEqual([`run ${result.id}`]);
    expect(await result.state()).toBe('FAILURE');
    expect(await deadLetters()).toHaveLength(1);
    expect(worker.output().match(/raised RetryNotSentError/g)).toHaveLength(1);
  });

  it('refuses arguments nested deeper than it could write back: FAILURE, dead-lettered, never run', async (ctx) => {
    const { client, env, runs, deadLetters } = await setUp(ctx, broker);
    await startWorker(APP, env, ['-c', '2']);
    const deep = `${'['.repeat(MAX_JSON_DEPTH)}0${']'.repeat(MAX_JSON_DEPTH)}`;
    const broker_ = await client.broker();
    await broker_.publish(withBody('faults.flaky', 'deep-1', `[[${deep}], {}, ${EMBED}]`), {
      queue: 'celery',
    });
    await expect(client.asyncResult('deep-1').get({ timeout: 20 })).rejects.toMatchObject({
      name: 'MalformedMessageError',
      message: expect.stringMatching(/nested too deeply/) as unknown,
    });
    const valid = await client.sendTask('faults.add', [1, 2]);
    expect(await valid.get({ timeout: 20 })).toBe(3);
    expect(runs().filter((line) => line.startsWith('run'))).toEqual([]);
    expect(await deadLetters()).toHaveLength(1);
  });

  it('records FAILURE for every refused message whose id it can read, and dead-letters each', async (ctx) => {
    const { client, env, deadLetters } = await setUp(ctx, broker);
    const worker = await startWorker(APP, env, ['-c', '2']);
    const queue = { queue: 'celery' };
    const held = await client.broker();
    await held.publish(withBody('faults.add', 'not-json-1', '{not json'), queue);
    await held.publish(
      withBody('faults.add', 'pickle-1', '\x80\x04K\x01.', 'application/x-python-serialize'),
      queue,
    );
    const unknown = await client.sendTask('no.such.task', [1]);
    const badKwargs = await client.sendTask('faults.add', [1], { kwargs: { c: 2 } });

    const failure = (id: string) =>
      client
        .asyncResult(id)
        .get({ timeout: 20 })
        .catch((e: unknown) => e);
    expect(await failure('not-json-1')).toMatchObject({
      name: 'MalformedMessageError',
      message: expect.stringMatching(/not valid JSON/) as unknown,
    });
    expect(await failure('pickle-1')).toMatchObject({
      name: 'UnsupportedContentTypeError',
      message: expect.stringMatching(/pickle/) as unknown,
    });
    const notRegistered = await failure(unknown.id);
    expect(notRegistered).toBeInstanceOf(TaskNotRegisteredError);
    expect(notRegistered).toMatchObject({ taskName: 'no.such.task' });
    const invalid = await failure(badKwargs.id);
    expect(invalid).toBeInstanceOf(RemoteTaskError);
    expect(invalid).toMatchObject({
      name: 'TypeError',
      message: 'got an unexpected keyword argument "c"',
    });
    await expect.poll(deadLetters, { timeout: 5000 }).toHaveLength(4);
    expect(worker.child.exitCode).toBeNull();
  });

  it('escapes names and messages in its log lines, names error classes, and logs starts at info', async (ctx) => {
    const { client, env } = await setUp(ctx, broker);
    const worker = await startWorker(APP, env, ['-c', '2']);
    const forged = '[2026-01-01 00:00:00.000: INFO/worker] Task forged[1] succeeded';
    const evil = await client.sendTask(`evil\n${forged}`, []);
    const failed = await client.sendTask('faults.fail', [`card declined\n${forged}\r\u001b[2K`]);
    const flaky = await client.sendTask('faults.flaky', [null]);
    const added = await client.sendTask('faults.add', [2, 3]);
    await Promise.all(
      [evil, failed, flaky].map((r) => r.get({ timeout: 20 }).catch(() => undefined)),
    );
    expect(await added.get({ timeout: 20 })).toBe(5);
    await worker.waitFor(/raised NetworkError/);
    const lines = worker.output().split('\n');
    expect(lines.filter((line) => line.startsWith('[2026-01-01'))).toEqual([]);
    expect(worker.output()).not.toContain('\u001b');
    expect(lines.some((line) => line.includes(`unknown task "evil\\n${forged}"`))).toBe(true);
    expect(
      lines.some((line) =>
        line.includes(`raised TypeError: card declined\\n${forged}\\r\\u001b[2K`),
      ),
    ).toBe(true);
    // The class the task threw, though its `name` is "Error"; retries name it too.
    expect(
      lines.some((line) =>
        line.includes(
          `WARN/worker] Task faults.flaky[${flaky.id}] retry 1/3 in 0.05 s: NetworkError: payment gateway unreachable`,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((line) =>
        line.includes(
          `ERROR/worker] Task faults.flaky[${flaky.id}] raised NetworkError: payment gateway unreachable`,
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((line) => line.includes(`INFO/worker] Task faults.add[${added.id}] started`)),
    ).toBe(true);
  });

  it('gives back a task that ignores its signal at a forced shutdown; another worker runs it, logging the redelivery', async (ctx) => {
    const { client, env, runs } = await setUp(ctx, broker);
    const first = await startWorker(APP, env, ['-c', '1', '--shutdown-timeout', '0.3']);
    const result = await client.sendTask<{ pid: number; redelivered: boolean }>(
      'faults.stubborn',
      [4000],
    );
    await expect
      .poll(() => runs().some((line) => line.startsWith('start')), { timeout: 10_000 })
      .toBe(true);
    first.child.kill('SIGTERM'); // warm: waits 0.3 s, then gives the running task back
    await first.exited;
    expect(first.output()).toMatch(/did not stop when aborted, given back to the queue/);
    const second = await startWorker(APP, env, ['-c', '1']);
    const value = await result.get({ timeout: 20 });
    expect(value).toEqual({ pid: second.child.pid, redelivered: true });
    expect(second.output()).toContain(
      `Task faults.stubborn[${result.id}] started again: redelivered`,
    );
  });

  it('stores RECEIVED for a task waiting for a slot when trackReceived is on', async (ctx) => {
    const { client, env, runs } = await setUp(ctx, broker);
    await startWorker(APP, { ...env, TEST_TRACK_RECEIVED: '1' }, ['-c', '1']);
    const busy = await client.sendTask('faults.stubborn', [1500]);
    await expect
      .poll(() => runs().some((line) => line.startsWith('start')), { timeout: 10_000 })
      .toBe(true);
    const waiting = await client.sendTask('faults.add', [2, 2]);
    await expect.poll(() => waiting.state(), { timeout: 10_000 }).toBe('RECEIVED');
    expect(await waiting.get({ timeout: 20 })).toBe(4);
    await busy.get({ timeout: 20 });
  });

  it('stops waiting for a task at its hard time limit, frees the slot, and ignores what the task does later', async (ctx) => {
    const { client, env, runs } = await setUp(ctx, broker);
    await startWorker(APP, env, ['-c', '1']);
    const limited = await client.sendTask('faults.limited', [2000]);
    const next = await client.sendTask('faults.add', [1, 1]);
    await expect(limited.get({ timeout: 20 })).rejects.toMatchObject({ name: 'TimeLimitExceeded' });
    expect(await next.get({ timeout: 20 })).toBe(2);
    // The one slot ran the next task while the abandoned one still slept.
    await expect
      .poll(() => runs().some((line) => line.startsWith('late')), { timeout: 10_000 })
      .toBe(true);
    const order = runs().map((line) => line.split(' ')[0]);
    expect(order.indexOf('add')).toBeLessThan(order.indexOf('late'));
    await sleep(300); // its late progress update, had it been stored, would be there now
    expect(await limited.state()).toBe('FAILURE');
  });
});
