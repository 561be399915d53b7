/**
 * Remote control and events across processes on PostgreSQL (LISTEN/NOTIFY, large messages
 * through the broker's broadcasts table), in a schema of the test's own: a `celeriac worker
 * -P threads -E` on postgres:// answers `celeriac inspect ping` and `inspect active`, whose
 * reply holds a task's 20 KB argument (over NOTIFY's 8000-byte limit); `control pool_grow`
 * is taken and shows in `inspect stats`; `revoke --terminate` stops the busy thread;
 * `celeriac events --dump` shows its heartbeats and task events; `celeriac status` pings it;
 * `control shutdown` stops it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';

const APP = 'test/worker/fixtures/pool-app.ts';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function postgresWorld() {
  const pg = testSchema('ctl_cli');
  const env = { CELERIAC_BROKER_URL: pg.url, CELERIAC_RESULT_BACKEND: pg.url };
  const client = new Celeriac({ broker: pg.url, backend: pg.url });
  cleanups.push(async () => {
    await client.close();
    await pg.drop();
  });
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
  return { pg, env, client, celeriac, json };
}

describe('remote control and events on PostgreSQL, across processes', () => {
  it('inspect (a reply over 8 KB included), control (pool_grow, revoke --terminate, shutdown), events and status reach the worker', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { pg, env, client, celeriac, json } = postgresWorld();
    const worker = await startWorker(APP, env, ['-n', 'pg@test', '-P', 'threads', '-c', '2', '-E']);
    expect(worker.output()).not.toMatch(/Remote control and events are off/);

    expect(await json('inspect', 'ping', '-d', 'pg@test', '-t', '10')).toEqual({
      'pg@test': { ok: 'pong' },
    });

    const big = 'y'.repeat(20_000);
    const forever = await client.sendTask('pool.forever', [big]);
    await worker.waitFor(new RegExp(`pool.forever\\[${forever.id}\\] started`));
    const { code, out } = await celeriac(
      'inspect',
      'active',
      '-d',
      'pg@test',
      '-t',
      '10',
      '--json',
    );
    expect(code, out.slice(0, 2000)).toBe(0);
    const replyLine = out.trim().split('\n').pop() ?? '';
    expect(Buffer.byteLength(replyLine)).toBeGreaterThan(8192);
    const active = JSON.parse(replyLine) as Record<string, Array<{ id: string; args: unknown }>>;
    expect(active['pg@test']?.map((task) => task.id)).toEqual([forever.id]);
    expect(active['pg@test']![0]!.args).toEqual([big]);
    // The reply travelled through the broadcasts table.
    const admin = await pg.client();
    const rows = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${pg.schema}".broadcasts`,
    );
    expect(rows.rows[0]!.n).toBeGreaterThanOrEqual(1);

    expect(
      await json('control', 'revoke', forever.id, '--terminate', '-d', 'pg@test', '-t', '10'),
    ).toEqual([{ 'pg@test': { ok: `terminate: ${forever.id}` } }]);
    const outcome = await forever.get({ timeout: 20 }).catch((error: Error) => error);
    expect((outcome as Error).name).toBe('TaskRevokedError');
    expect(await forever.state()).toBe('REVOKED');

    expect(await json('control', 'pool_grow', '1', '-d', 'pg@test', '-t', '10')).toEqual([
      { 'pg@test': { ok: 'pool will grow' } },
    ]);
    const stats = await json<Record<string, { pool: Record<string, unknown>; broker: object }>>(
      'inspect',
      'stats',
      '-d',
      'pg@test',
      '-t',
      '10',
    );
    expect(stats['pg@test']).toMatchObject({
      pool: { 'max-concurrency': 3 },
      broker: { transport: 'postgres' },
    });
    // Still serving after the terminate and the grow.
    const after = await Promise.all(
      ['a', 'b', 'c'].map(async (tag) =>
        (await client.sendTask<string>('pool.record', [tag])).get({ timeout: 20 }),
      ),
    );
    expect(after).toEqual(['a', 'b', 'c']);

    const events = runCli(['events', '--dump', '--duration', '60'], env);
    await events.waitFor(/pg@test \[[^\]]+\] heartbeat: /, 20_000);
    const sum = await client.sendTask<string>('pool.record', ['evented']);
    expect(await sum.get({ timeout: 20 })).toBe('evented');
    await events.waitFor(new RegExp(`task succeeded: \\S*\\(${sum.id}\\)`), 20_000);
    expect(events.output()).toMatch(new RegExp(`task received: pool.record\\(${sum.id}\\)`));

    const status = await celeriac('-A', APP, 'status', '-t', '2');
    expect(status.out).toMatch(/-> pg@test: OK/);
    expect(status.out).toMatch(/1 node online\./);

    expect(await json('control', 'shutdown', '-d', 'pg@test', '-t', '10')).toEqual([
      { 'pg@test': { ok: 'shutting down' } },
    ]);
    expect(await worker.exited).toBe(0);
  }, 120_000);
});
