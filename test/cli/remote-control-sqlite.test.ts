/**
 * Remote control and events across processes on the embedded default, SQLite (its
 * broadcast log in the broker's file): a `celeriac worker -P processes -E` answers
 * `celeriac inspect` (ping, active, stats) and `celeriac control` from other processes;
 * `revoke --terminate` kills the child running a busy loop, the task is recorded REVOKED
 * and the worker goes on serving; `rate_limit` is taken; `celeriac events --dump` shows its
 * heartbeats and task events; `celeriac status` pings it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, READY_TIMEOUT_MS, runCli, startWorker } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/pool-app.ts';
// Each wait below ends on the line it waits for; the bound is for a loaded machine, where a
// process (tsx, the app, a SQLite poll) can take 20 s and more to start or answer.
const WAIT_MS = READY_TIMEOUT_MS;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sqliteWorld() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-ctl-cli-'));
  const url = `sqlite://${path.join(dir, 'ctl.db')}`;
  const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  const client = new Celeriac({ broker: url, backend: url });
  cleanups.push(async () => {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** `celeriac <args>` to its end, on the world's file. */
  const celeriac = async (...args: string[]) => {
    const run = runCli(args, env);
    const code = await run.exited;
    return { code, out: run.output() };
  };
  const json = async <T>(...args: string[]): Promise<T> => {
    const { code, out } = await celeriac(...args, '--json');
    expect(code, out).toBe(0);
    return JSON.parse(out.trim().split('\n').pop() ?? 'null') as T;
  };
  return { env, client, celeriac, json };
}

describe('remote control and events on SQLite, across processes', () => {
  it('inspect, control (revoke --terminate on the processes pool, rate_limit), events and status reach the worker', async () => {
    const { env, client, celeriac, json } = sqliteWorld();
    const worker = await startWorker(APP, env, [
      '-n',
      'sq@test',
      '-P',
      'processes',
      '-c',
      '2',
      '-E',
    ]);
    expect(worker.output()).not.toMatch(/Remote control and events are off/);

    expect(await json('inspect', 'ping', '-d', 'sq@test', '-t', '10')).toEqual({
      'sq@test': { ok: 'pong' },
    });

    const forever = await client.sendTask('pool.forever');
    await worker.waitFor(new RegExp(`pool.forever\\[${forever.id}\\] started`), WAIT_MS);
    const active = await json<Record<string, Array<{ id: string; worker_pid: number }>>>(
      'inspect',
      'active',
      '-d',
      'sq@test',
      '-t',
      '10',
    );
    expect(active['sq@test']?.map((task) => task.id)).toEqual([forever.id]);
    // The pid of the child running it, as Celery's prefork pool reports it.
    const childPid = active['sq@test']![0]!.worker_pid;
    expect(childPid).not.toBe(worker.child.pid);
    const killing = worker.waitFor(/Killing pool pid (\d+) running pool.forever/, WAIT_MS);

    expect(
      await json('control', 'revoke', forever.id, '--terminate', '-d', 'sq@test', '-t', '10'),
    ).toEqual([{ 'sq@test': { ok: `terminate: ${forever.id}` } }]);
    const outcome = await forever.get({ timeout: WAIT_MS / 1000 }).catch((error: Error) => error);
    expect((outcome as Error).name).toBe('TaskRevokedError');
    expect(await forever.state()).toBe('REVOKED');
    expect(await killing).toMatch(new RegExp(`pid ${childPid} `));
    // The busy child was killed and replaced: the worker still runs tasks on both slots.
    const after = await Promise.all(
      ['a', 'b', 'c'].map(async (tag) =>
        (await client.sendTask<string>('pool.record', [tag])).get({ timeout: WAIT_MS / 1000 }),
      ),
    );
    expect(after).toEqual(['a', 'b', 'c']);

    expect(
      await json('control', 'rate_limit', 'pool.record', '10/m', '-d', 'sq@test', '-t', '10'),
    ).toEqual([{ 'sq@test': { ok: 'new rate limit set successfully' } }]);
    await worker.waitFor(/New rate limit for tasks of type pool.record: 10\/m/, WAIT_MS);
    const stats = await json<
      Record<string, { pool: Record<string, unknown>; broker: object; pid: number }>
    >('inspect', 'stats', '-d', 'sq@test', '-t', '10');
    expect(stats['sq@test']).toMatchObject({
      pool: { 'max-concurrency': 2, implementation: 'celeriac:processes' },
      broker: { transport: 'sqlite' },
    });
    // Celery lists the pool's child processes: two, none of them the worker itself.
    const children = stats['sq@test']!.pool.processes as number[];
    expect(children).toHaveLength(2);
    expect(children).not.toContain(stats['sq@test']!.pid);

    const events = runCli(['events', '--dump', '--duration', '60'], env);
    await events.waitFor(/sq@test \[[^\]]+\] heartbeat: /, WAIT_MS);
    const sum = await client.sendTask<string>('pool.record', ['evented']);
    expect(await sum.get({ timeout: WAIT_MS / 1000 })).toBe('evented');
    await events.waitFor(new RegExp(`task succeeded: \\S*\\(${sum.id}\\)`), WAIT_MS);
    expect(events.output()).toMatch(new RegExp(`task received: pool.record\\(${sum.id}\\)`));

    const status = await celeriac('-A', APP, 'status', '-t', '2');
    expect(status.out).toMatch(/-> sq@test: OK/);
    expect(status.out).toMatch(/1 node online\./);
  }, 300_000);
});
