/**
 * The canvas API end to end, on SQLite and on Redis, with several real worker processes:
 * chain, group, chord, links, their nestings, the fan-in's failure cases, GroupResult save
 * and restore, and a worker killed with SIGKILL in the middle of a chord.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, type TestContext } from 'vitest';
import {
  Celeriac,
  chain,
  chord,
  group,
  GroupResult,
  workflow,
  type AsyncResult,
  type SettledResult,
} from '../../src/index.js';
import {
  killProcesses,
  READY_TIMEOUT_MS,
  runCli,
  type WorkerProcess,
} from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/canvas/fixtures/canvas-app.ts';

/**
 * One test's world: its client, the env its workers get, its run log, and `start`, which
 * starts a worker the world stops when the test ends. The two stacks' tests run side by
 * side, so each world stops only its own workers.
 */
interface Setup {
  client: Celeriac;
  env: Record<string, string>;
  runs: () => string[];
  start: (env: Record<string, string>, flags: string[]) => Promise<WorkerProcess>;
}

let counter = 0;

function declare(client: Celeriac) {
  return {
    add: client.signature<[a: number, b: number], number>('tasks.add'),
    mul: client.signature<[a: number, b: number], number>('tasks.mul'),
    tsum: client.signature<[numbers: number[]], number>('tasks.tsum'),
    echo: client.signature<unknown[], unknown[]>('tasks.echo'),
    fail: client.signature<[message?: string], never>('tasks.fail'),
    slow: client.signature<[ms: number, value: number], number>('tasks.slow'),
    flaky: client.signature<[value: number], number>('tasks.flaky'),
  };
}

/** A temp dir with the run log, and the workers, both gone when the test ends. */
function testDir(ctx: TestContext) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-canvas-'));
  const runLog = path.join(dir, 'runs.log');
  const workers: WorkerProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  ctx.onTestFinished(async () => {
    await killProcesses(workers);
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    runLog,
    runs: () =>
      existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean) : [],
    start: async (env: Record<string, string>, flags: string[]) => {
      const worker = runCli(['-A', APP, 'worker', '-l', 'info', ...flags], env);
      workers.push(worker); // from the spawn on, so one that never gets ready is stopped too
      await worker.waitFor(/ready: queues=/, READY_TIMEOUT_MS);
      return worker;
    },
    onClose: (close: () => Promise<void>) => closers.push(close),
  };
}

function sqliteSetup(ctx: TestContext): Promise<Setup> {
  const { dir, runLog, runs, start, onClose } = testDir(ctx);
  const url = `sqlite://${path.join(dir, 'broker.db')}`;
  const client = new Celeriac({ broker: url });
  onClose(() => client.close());
  return Promise.resolve({
    client,
    env: { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: runLog },
    runs,
    start,
  });
}

async function redisSetup(ctx: TestContext): Promise<Setup> {
  await requireService(ctx, 'redis');
  const { runLog, runs, start, onClose } = testDir(ctx);
  const prefix = `celeriac-test:canvas-${process.pid}-${++counter}:`;
  const client = new Celeriac({ broker: REDIS_URL, backend: REDIS_URL, keyPrefix: prefix });
  onClose(async () => {
    await client.close();
    await deleteRedisPrefix(prefix);
  });
  return {
    client,
    env: {
      CELERIAC_BROKER_URL: REDIS_URL,
      CELERIAC_RESULT_BACKEND: REDIS_URL,
      TEST_KEY_PREFIX: prefix,
      TEST_RUN_LOG: runLog,
    },
    runs,
    start,
  };
}

const stacks: Array<[string, (ctx: TestContext) => Promise<Setup>]> = [
  ['SQLite', (ctx) => sqliteSetup(ctx)],
  ['Redis', (ctx) => redisSetup(ctx)],
];

// The two stacks' tests run side by side, each stack's in order.
describe.concurrent.each(stacks)('canvas on %s', (_name, setup) => {
  it.sequential('chains, groups and chords, nested, across two workers', async (ctx) => {
    const { client, env, runs, start } = await setup(ctx);
    await start(env, ['-c', '4', '-n', 'a@test']);
    await start(env, ['-c', '4', '-n', 'b@test']);
    const { add, mul, tsum } = declare(client);

    // A chain: ((1 + 2) + 3) * 10, parent links back to the first.
    const chained = await chain(add.s(1, 2), add.s(3), mul.s(10)).delay();
    expect(await chained.get({ timeout: 20 })).toBe(60);
    expect(await chained.parent.get({ timeout: 1 })).toBe(6);
    // Read back from the backend as Celery stores them: each task's children (what its
    // success sent) and parent_id.
    const first = chained.parent.parent as AsyncResult<number>;
    expect((await first.children()).map((c) => c.id)).toEqual([chained.parent.id]);
    expect((await chained.parent.children()).map((c) => c.id)).toEqual([chained.id]);
    expect((await client.asyncResult(chained.id).parentResult())?.id).toBe(chained.parent.id);
    expect(await client.asyncResult(first.id).parentResult()).toBeUndefined();

    // A group: results in order; saved and restored by id.
    const grouped = await group([1, 2, 3, 4].map((i) => add.s(i, i))).delay();
    expect(await grouped.get({ timeout: 20 })).toEqual([2, 4, 6, 8]);
    await grouped.save();
    const restored = await GroupResult.restore(client, grouped.id);
    expect(restored?.results.map((r) => r.id)).toEqual(grouped.results.map((r) => r.id));

    // A chord: the body gets the header results in header order.
    const chorded = await chord(
      [5, 4, 3, 2, 1].map((i) => add.s(i, 0)),
      client.signature<[values: number[]], unknown[]>('tasks.echo').s(),
    ).delay();
    expect(await chorded.get({ timeout: 20 })).toEqual([[5, 4, 3, 2, 1]]);

    // A chain of a group (upgraded to a chord, as Celery does) then a task.
    const fanned = await chain(add.s(1, 1), group(add.s(10), add.s(20)), tsum.s()).delay();
    expect(await fanned.get({ timeout: 20 })).toBe(34);

    // A group nested directly in a group or a chord header unrolls in place (as Celery's).
    const unrolled = await group(group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)).delay();
    expect(unrolled.results).toHaveLength(3);
    expect(await unrolled.get({ timeout: 20 })).toEqual([2, 4, 6]);
    const flatChord = await chord(
      [group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)],
      client.signature<[values: number[]], unknown[]>('tasks.echo').s(),
    ).delay();
    expect(await flatChord.get({ timeout: 20 })).toEqual([[2, 4, 6]]);
    expect(flatChord.parent.results).toHaveLength(3);

    // A group of chains.
    const chains = await group(chain(add.s(1, 1), mul.s(3)), chain(add.s(2, 2), mul.s(5))).delay();
    expect(await chains.get({ timeout: 20 })).toEqual([6, 20]);

    // A chord inside a chain, whose header holds chains; then a chord of chords.
    const inside = await chain(
      add.s(1, 1),
      chord([chain(add.s(1), mul.s(2)), add.s(100)], tsum.s()),
      mul.s(2),
    ).delay();
    expect(await inside.get({ timeout: 20 })).toBe(2 * ((2 + 1) * 2 + (2 + 100)));
    const nested = await chord(
      [chord([add.s(1, 1), add.s(2, 2)], tsum.s()), chord([add.s(3, 3), add.s(4, 4)], tsum.s())],
      tsum.s(),
    ).delay();
    expect(await nested.get({ timeout: 20 })).toBe(20);

    // Each body ran exactly once.
    await sleep(300);
    expect(runs().filter((l) => l.startsWith('echo'))).toHaveLength(2);
    expect(runs().filter((l) => l.startsWith('tsum'))).toHaveLength(5);
  });

  it.sequential(
    'links and link errors sent from the API, with the root and parent ids',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '4']);
      const { add, echo, fail } = declare(client);
      const linked = await add.s(2, 3).link(echo.s('ok')).linkError(echo.si('never')).delay();
      expect(await linked.get({ timeout: 20 })).toBe(5);
      const [callback, ...none] = await linked.children();
      expect(none).toEqual([]);
      expect(await (callback as AsyncResult<unknown[]>).get({ timeout: 20 })).toEqual([5, 'ok']);
      expect((await client.asyncResult(callback!.id).parentResult())?.id).toBe(linked.id);
      const failed = await fail.s('down').linkError(echo.s('errback')).delay();
      await expect(failed.get({ timeout: 20 })).rejects.toThrow('down');
      while (runs().filter((l) => l.startsWith('echo')).length < 2) await sleep(25);
      const echoes = runs().filter((l) => l.startsWith('echo'));
      expect(echoes.map((l) => l.split(' ')[1]).sort()).toEqual(
        [JSON.stringify([5, 'ok']), JSON.stringify([failed.id, 'errback'])].sort(),
      );
      // parent id and root id of the callback are the linking task's.
      expect(
        echoes
          .find((l) => l.includes('"ok"'))
          ?.split(' ')
          .slice(3),
      ).toEqual([linked.id, linked.id]);
    },
  );

  it.sequential(
    'a failed or revoked header task settles its slot: fail policy fails the body, settled runs it',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '4']);
      const { add, fail, tsum } = declare(client);
      const failing = await chord(
        [add.s(1, 1), fail.s('header down'), add.s(2, 2)],
        tsum.s(),
      ).delay();
      const error = (await failing.get({ timeout: 20, propagate: false })) as Error;
      expect(error.name).toBe('ChordError');
      expect(error.message).toMatch(/Dependency .* raised TypeError\(header down\)/);

      const report = client.signature<[outcomes: SettledResult<number>[]], unknown[]>('tasks.echo');
      const settled = await chord([add.s(1, 1), fail.s('nope'), add.s(3, 3)], report.s(), {
        policy: 'settled',
      }).delay();
      const [outcomes] = (await settled.get({ timeout: 20 })) as [SettledResult<number>[]];
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(outcomes[0]).toEqual({ status: 'fulfilled', value: 2 });

      // A header task revoked before it ran settles its slot as REVOKED.
      const revokedId = `revoked-${Date.now()}-${++counter}`;
      const revoking = await chord(
        [add.s(1, 1), add.s(2, 2).set({ countdown: 1, taskId: revokedId })],
        tsum.s(),
      ).delay();
      await client.asyncResult(revokedId).revoke();
      const revokedError = (await revoking.get({ timeout: 20, propagate: false })) as Error;
      expect(revokedError.name).toBe('ChordError');
      expect(revokedError.message).toContain(revokedId);
      expect(await client.asyncResult(revokedId).state()).toBe('REVOKED');

      // A header task that expired before it ran settles its slot as REVOKED.
      const expiring = await chord(
        [add.s(1, 1), add.s(2, 2).set({ expires: new Date(Date.now() - 1000) })],
        tsum.s(),
      ).delay();
      const expired = (await expiring.get({ timeout: 20, propagate: false })) as Error;
      expect(expired.name).toBe('ChordError');
      expect(runs().filter((l) => l.startsWith('tsum'))).toEqual([]);
    },
  );

  it.sequential(
    'a chord deadline settles the slots still open: the body runs (settled) or fails (fail), once',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '4']);
      const { add, slow, tsum } = declare(client);
      const started = Date.now();
      const failing = await chord([add.s(1, 1), slow.s(2500, 5)], tsum.s(), {
        deadline: 1,
      }).delay();
      const error = (await failing.get({ timeout: 20, propagate: false })) as Error;
      expect(error.name).toBe('ChordError');
      expect(error.message).toMatch(/deadline of 1 s passed/);
      expect(Date.now() - started).toBeLessThan(3500);

      const report = client.signature<[outcomes: SettledResult<number>[]], unknown[]>('tasks.echo');
      const settled = await chord([add.s(2, 2), slow.s(2500, 6)], report.s(), {
        policy: 'settled',
        deadline: 1,
      }).delay();
      const [outcomes] = (await settled.get({ timeout: 20 })) as [SettledResult<number>[]];
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
      // The late header tasks end after the chord did: neither body runs again.
      while (runs().filter((l) => l.startsWith('slow-end')).length < 2) await sleep(50);
      await sleep(300);
      expect(runs().filter((l) => l.startsWith('echo'))).toHaveLength(1);
      expect(runs().filter((l) => l.startsWith('tsum'))).toEqual([]);
    },
  );

  it.sequential(
    'a chord given no deadline gets one from the header time limits: a lost header task fails the body',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '2']);
      const { add, tsum } = declare(client);
      const started = Date.now();
      // The second header task goes to a queue no worker consumes: it never reports.
      const lost = add.s(2, 2).set({ timeLimit: 1, queue: 'nobody-consumes-this' });
      const result = await chord([add.s(1, 1).set({ timeLimit: 1 }), lost], tsum.s()).delay();
      const error = (await result.get({ timeout: 30, propagate: false })) as Error;
      expect(error.name).toBe('ChordError');
      // 2 x (1 s + 1 s), raised to the 5 s floor.
      expect(error.message).toMatch(/deadline of 5 s passed before header task .* settled/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
      expect(runs().filter((l) => l.startsWith('tsum'))).toEqual([]);
    },
  );

  it.sequential(
    'a workflow is read back as a tree with states, and revoking its root revokes every part not yet run',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '4']);
      const { add, slow, tsum } = declare(client);

      const chained = await chain(slow.s(1500, 1), add.s(1), add.s(2)).delay();
      const first = (chained.parent.parent as AsyncResult<number>).id;
      expect(chained.rootId).toBe(first);
      const flow = workflow(client, chained.rootId!);
      const before = await flow.tree();
      expect(before.kind).toBe('chain');
      while (!runs().some((l) => l.startsWith('slow-start 1'))) await sleep(25);
      // Revoked while its first task runs: the rest, not yet sent, is refused when it comes.
      const revoked = await flow.revoke();
      expect(revoked).toEqual(expect.arrayContaining([chained.parent.id, chained.id]));
      await expect(chained.get({ timeout: 20 })).rejects.toThrow(/revoked/i);
      const after = await flow.tree();
      if (after.kind !== 'chain') throw new Error('not a chain');
      expect(after.children.map((n) => (n.kind === 'task' ? n.state : n.kind))).toEqual([
        'SUCCESS',
        'REVOKED',
        'REVOKED',
      ]);

      // A chord: its root revoked while the header runs (AsyncResult.revoke of the root
      // revokes the workflow), the body never runs.
      const chorded = await chord([slow.s(1500, 2), add.s(1, 1)], tsum.s()).delay();
      while (!runs().some((l) => l.startsWith('slow-start 2'))) await sleep(25);
      // The quick header task must have ended first, or the revoke rightly stops it too
      // (seen on a loaded CI run: it had not started when slow did).
      const quickDone = async () => {
        const shape = await workflow(client, chorded.rootId!).tree();
        const quick = shape.kind === 'chord' ? shape.header[1] : undefined;
        return quick?.kind === 'task' && quick.state === 'SUCCESS';
      };
      while (!(await quickDone())) await sleep(25);
      await client.asyncResult(chorded.rootId!).revoke();
      await expect(chorded.get({ timeout: 20 })).rejects.toThrow();
      const tree = await workflow(client, chorded.rootId!).tree();
      if (tree.kind !== 'chord') throw new Error('not a chord');
      expect(tree.header.map((n) => n.kind === 'task' && n.state)).toEqual(['SUCCESS', 'SUCCESS']);
      expect(tree.body.kind === 'task' && tree.body.state).toMatch(/REVOKED|FAILURE/);
      await sleep(300);
      expect(runs().filter((l) => l.startsWith('tsum'))).toEqual([]);

      // Without a stored shape (a task sent alone, or by Python), the tree follows the metas' children.
      const { echo } = declare(client);
      const linked = await add.s(2, 3).link(echo.s('x')).delay();
      expect(await linked.get({ timeout: 20 })).toBe(5);
      const fromMetas = await workflow(client, linked.id).tree();
      expect(fromMetas).toMatchObject({ kind: 'task', id: linked.id, state: 'SUCCESS' });
      if (fromMetas.kind !== 'task') throw new Error('not a task');
      expect(fromMetas.children).toHaveLength(1);
    },
  );

  it.sequential('retries inside a header never fire the body early or twice', async (ctx) => {
    const { client, env, runs, start } = await setup(ctx);
    await start(env, ['-c', '3', '-n', 'a@test']);
    await start(env, ['-c', '3', '-n', 'b@test']);
    const { add, flaky, tsum } = declare(client);
    const result = await chord(
      [flaky.s(1), add.s(1, 1), flaky.s(3), ...Array.from({ length: 10 }, (_, i) => add.s(i, 0))],
      tsum.s(),
    ).delay();
    expect(await result.get({ timeout: 30 })).toBe(1 + 2 + 3 + 45);
    await sleep(500);
    expect(runs().filter((l) => l.startsWith('tsum'))).toHaveLength(1);
    expect(runs().filter((l) => l.startsWith('flaky'))).toHaveLength(6);
  });

  it.sequential(
    'runs the body once when a worker is killed with SIGKILL in the middle of a chord',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      const leaseEnv = { ...env, TEST_LEASE_MS: '1500' };
      const victim = await start(leaseEnv, ['-c', '2', '-n', 'victim@test']);
      const { slow, tsum } = declare(client);
      const result = await chord(
        [slow.s(1500, 1), slow.s(1500, 2), slow.s(10, 3), slow.s(10, 4)],
        tsum.s(),
      ).delay();
      while (runs().filter((l) => l.startsWith('slow-start')).length < 2) await sleep(20);
      victim.child.kill('SIGKILL');
      await victim.exited;
      await start(leaseEnv, ['-c', '4', '-n', 'rescuer@test']);
      expect(await result.get({ timeout: 40 })).toBe(10);
      await sleep(500);
      expect(runs().filter((l) => l.startsWith('tsum'))).toHaveLength(1);
    },
  );

  it.sequential(
    'the chord body runs once when the worker that sent it is killed before clearing the join, and the part is redelivered',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      const backendUrl = env.CELERIAC_RESULT_BACKEND ?? env.CELERIAC_BROKER_URL!;
      const { CELERIAC_RESULT_BACKEND: _dropped, ...withoutBackend } = env;
      const victim = await start(
        {
          ...withoutBackend,
          TEST_LEASE_MS: '1500',
          TEST_DIE_BEFORE_CLEAR_CHORD: '1',
          TEST_BACKEND_URL: backendUrl,
        },
        ['-c', '1', '-n', 'victim@test', '-Q', 'header'],
      );
      const { add, tsum } = declare(client);
      const result = await chord(
        [1, 2, 3].map((i) => add.s(i, i).set({ queue: 'header' })),
        tsum.s(),
      ).delay();
      // The last header task sent the body to `celery`, then its worker died before clearing.
      await victim.exited;
      expect(victim.child.signalCode).toBe('SIGKILL');
      expect(runs().filter((l) => l.startsWith('add'))).toHaveLength(3);
      const rescuer = await start({ ...env, TEST_LEASE_MS: '1500' }, [
        '-c',
        '2',
        '-n',
        'rescuer@test',
        '-Q',
        'header,celery',
      ]);
      expect(await result.get({ timeout: 40 })).toBe(12);
      // The redelivered header task ran again and sent the body a second time: dropped. (The
      // other header tasks may run again too: their acks may not have reached the broker.)
      await rescuer.waitFor(/Dropped a second send of tasks\.tsum\[/, 30_000);
      expect(runs().filter((l) => l.startsWith('add')).length).toBeGreaterThanOrEqual(4);
      await sleep(500);
      expect(runs().filter((l) => l.startsWith('tsum'))).toHaveLength(1);
    },
  );

  it.sequential(
    'a failed chord sends its errbacks once when the worker that failed the body is killed before clearing the join, and the part is redelivered',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      const backendUrl = env.CELERIAC_RESULT_BACKEND ?? env.CELERIAC_BROKER_URL!;
      const { CELERIAC_RESULT_BACKEND: _dropped, ...withoutBackend } = env;
      const victim = await start(
        {
          ...withoutBackend,
          TEST_LEASE_MS: '1500',
          TEST_DIE_BEFORE_CLEAR_CHORD: '1',
          TEST_BACKEND_URL: backendUrl,
        },
        ['-c', '1', '-n', 'victim@test', '-Q', 'header'],
      );
      const { add, echo, fail, tsum } = declare(client);
      const result = await chord(
        [add.s(1, 1), fail.s('header down'), add.s(2, 2)].map((sig) =>
          sig.set({ queue: 'header' }),
        ),
        tsum.s().linkError(echo.s('errback')),
      ).delay();
      // The last header task failed the body and sent its errback to `celery`, then its
      // worker died before clearing the join and acking.
      await victim.exited;
      expect(victim.child.signalCode).toBe('SIGKILL');
      const rescuer = await start({ ...env, TEST_LEASE_MS: '1500' }, [
        '-c',
        '2',
        '-n',
        'rescuer@test',
        '-Q',
        'header,celery',
      ]);
      const error = (await result.get({ timeout: 40, propagate: false })) as Error;
      expect(error.name).toBe('ChordError');
      // The redelivered header task completes the join again and fails the body again: its
      // errback send is a second one, dropped by the worker that takes it.
      const headerRuns = () => runs().filter((l) => /^(add|fail) /.test(l)).length;
      while (headerRuns() < 4) await sleep(50);
      await rescuer.waitFor(/Dropped a second send of tasks\.echo\[/, 30_000);
      await sleep(500);
      expect(runs().filter((l) => l.startsWith('echo'))).toHaveLength(1);
      expect(runs().filter((l) => l.startsWith('tsum'))).toEqual([]);
    },
  );

  it.sequential(
    'map, starmap and chunks (Celery built-ins) run each item through the task in one worker run, and chunks as a group',
    async (ctx) => {
      const { client, env, runs, start } = await setup(ctx);
      await start(env, ['-c', '2']);
      const { add, tsum } = declare(client);
      const mapped = await tsum.map([[1, 2], [3, 4], [5]]).delay();
      expect(await mapped.get({ timeout: 20 })).toEqual([3, 7, 5]);
      const starred = await add
        .starmap([
          [1, 2],
          [3, 4],
        ])
        .delay();
      expect(await starred.get({ timeout: 20 })).toEqual([3, 7]);
      const chunked = await add
        .chunks(
          [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          2,
        )
        .delay();
      expect(await chunked.get({ timeout: 20 })).toEqual([[3, 7], [11]]);
      expect(runs().filter((l) => l.startsWith('add'))).toHaveLength(5);
    },
  );
});
