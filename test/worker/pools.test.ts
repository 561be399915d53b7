/**
 * The threads and processes pools with real worker processes on a SQLite broker: CPU-bound
 * tasks run in threads or children while the worker keeps its leases, heartbeats and other
 * tasks going; hard limits and revoke-terminate kill and replace the member; crashes,
 * retries, progress and failures travel back as in the async pool; no child outlives its
 * worker.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killProcesses, runCli, type WorkerProcess } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/pool-app.ts';

/**
 * A broker file of its own, with its run log, client and the workers started on it: the two
 * pools' tests run side by side, so each closes only what it started.
 */
interface World {
  env: Record<string, string>;
  client: Celeriac;
  logLines: () => string[];
  start: (flags: string[], extraEnv?: Record<string, string>) => Promise<WorkerProcess>;
  run: (args: string[]) => WorkerProcess;
  close: () => Promise<void>;
}

function openWorld(): World {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-pools-'));
  const url = `sqlite://${path.join(dir, 'broker.db')}`;
  const runLog = path.join(dir, 'runs.log');
  const env = { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: runLog };
  const client = new Celeriac({ broker: url });
  const processes: WorkerProcess[] = [];
  return {
    env,
    client,
    logLines: () =>
      existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean) : [],
    async start(flags, extraEnv = {}) {
      const worker = runCli(['-A', APP, 'worker', '-l', 'info', ...flags], { ...env, ...extraEnv });
      processes.push(worker);
      await worker.waitFor(/ready: queues=/, 60_000);
      return worker;
    },
    run(args) {
      const run = runCli(args, env);
      processes.push(run);
      return run;
    },
    async close() {
      await killProcesses(processes);
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A world for one test, closed when it ends. */
function testWorld(ctx: TestContext): World {
  const world = openWorld();
  ctx.onTestFinished(() => world.close());
  return world;
}

/**
 * A worker several tests share (one per flag set): started by the first that asks, closed
 * after the pool's tests. Only tests that leave the worker as they found it share one.
 */
function sharedWorker(flags: string[]) {
  let shared: Promise<{ world: World; worker: WorkerProcess }> | undefined;
  afterAll(async () => {
    await (await shared?.catch(() => undefined))?.world.close();
  });
  return () => {
    shared ??= (async () => {
      const world = openWorld();
      return { world, worker: await world.start(flags) };
    })();
    return shared;
  };
}

/** Pids of the processes whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function readdirSafe(dirPath: string): string[] {
  try {
    return readdirSync(dirPath);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(50);
  }
}

// The two pools' tests run side by side (each pool's in order); the lease test, whose
// timings a busy loop in the other pool could upset, runs on its own after them.
describe.concurrent.each(['threads', 'processes'] as const)('the %s pool', (pool) => {
  const flags = (more: string[]) => ['-P', pool, ...more];
  // Tests that leave their worker as they found it share one: two slots, and one slot.
  const twoSlots = sharedWorker(flags(['-c', '2']));
  const oneSlot = sharedWorker(flags(['-c', '1']));

  it.sequential('runs tasks outside the worker thread, one member per slot', async () => {
    const { world, worker } = await twoSlots();
    expect(worker.output()).toMatch(new RegExp(`pool=${pool} concurrency=2`));
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        world.client.sendTask<{ pid: number; thread: number }>('pool.spin', [150]),
      ),
    );
    const places = await Promise.all(results.map((r) => r.get({ timeout: 20 })));
    const members = new Set(places.map((p) => `${p.pid}/${p.thread}`));
    expect(members.size).toBe(2);
    for (const place of places) {
      if (pool === 'threads') {
        expect(place.pid).toBe(worker.child.pid);
        expect(place.thread).not.toBe(0);
      } else {
        expect(place.pid).not.toBe(worker.child.pid);
      }
    }
  });

  it.sequential(
    'carries failures, automatic and explicit retries, and progress back to the worker',
    async () => {
      const { client } = (await twoSlots()).world;
      const failed = await client.sendTask('pool.fail', ['card declined']);
      await expect(failed.get({ timeout: 15 })).rejects.toMatchObject({
        name: 'TypeError',
        message: 'card declined',
      });
      const flaky = await client.sendTask<number>('pool.flaky', [2]);
      expect(await flaky.get({ timeout: 15 })).toBe(2);
      const retried = await client.sendTask<string>('pool.explicitRetry', []);
      expect(await retried.get({ timeout: 15 })).toBe('retried');
      const progress = await client.sendTask<number>('pool.progress', [3]);
      const states: string[] = [];
      for await (const update of progress.updates()) {
        states.push(update.status);
        if (update.status === 'SUCCESS') break;
      }
      expect(states).toContain('PROGRESS');
      expect(await progress.get({ timeout: 15 })).toBe(3);
    },
  );

  it.sequential('lets a task catch its soft time limit', async () => {
    const { client } = (await oneSlot()).world;
    const result = await client.sendTask<{ reason: boolean }>('pool.catchSoft', []);
    expect(await result.get({ timeout: 15 })).toMatchObject({ reason: true });
  });

  it.sequential(
    'kills a busy loop at its hard time limit, records TimeLimitExceeded and goes on',
    async () => {
      const { world, worker } = await oneSlot();
      const { client } = world;
      const limited = await client.sendTask('pool.foreverLimited', []);
      await expect(limited.get({ timeout: 15 })).rejects.toMatchObject({
        name: 'TimeLimitExceeded',
      });
      expect(await limited.state()).toBe('FAILURE');
      // The one slot has a fresh member: the next task runs.
      const next = await client.sendTask<{ pid: number; thread: number }>('pool.where', []);
      await next.get({ timeout: 15 });
      expect(worker.output()).toMatch(/Killing pool (pid|thread) \d+ running pool\.foreverLimited/);
    },
  );

  it.sequential(
    'fails a task whose member dies with WorkerLostError and replaces the member',
    async () => {
      const { client } = (await oneSlot()).world;
      const crashed = await client.sendTask('pool.crash', []);
      await expect(crashed.get({ timeout: 15 })).rejects.toMatchObject({ name: 'WorkerLostError' });
      const next = await client.sendTask<{ pid: number }>('pool.where', []);
      await next.get({ timeout: 15 });
    },
  );

  it.sequential('applies the worker-wide --time-limit and --soft-time-limit', async (ctx) => {
    const { client, start } = testWorld(ctx);
    await start(flags(['-c', '2', '--time-limit', '1', '--soft-time-limit', '0.3']));
    const spinning = await client.sendTask('pool.forever', []);
    const soft = await client.sendTask('pool.sleep', [5000]);
    await expect(spinning.get({ timeout: 15 })).rejects.toMatchObject({
      name: 'TimeLimitExceeded',
    });
    await expect(soft.get({ timeout: 15 })).rejects.toMatchObject({
      name: 'SoftTimeLimitExceeded',
    });
  });

  it.sequential('replaces a member after --max-tasks-per-child tasks', async (ctx) => {
    const { client, start } = testWorld(ctx);
    await start(flags(['-c', '1', '--max-tasks-per-child', '2']));
    const places: string[] = [];
    for (let i = 0; i < 4; i++) {
      const place = await (
        await client.sendTask<{ pid: number; thread: number }>('pool.where', [])
      ).get({ timeout: 15 });
      places.push(`${place.pid}/${place.thread}`);
    }
    expect(places[0]).toBe(places[1]);
    expect(places[2]).toBe(places[3]);
    expect(places[1]).not.toBe(places[2]);
  });

  it.sequential('replaces a member whose memory passed --max-memory-per-child', async (ctx) => {
    const { client, start } = testWorld(ctx);
    await start(flags(['-c', '1', '--max-memory-per-child', String(200 * 1024)]));
    const first = await (
      await client.sendTask<{ pid: number; thread: number }>('pool.grow', [1])
    ).get({ timeout: 15 });
    const second = await (
      await client.sendTask<{ pid: number; thread: number }>('pool.grow', [300])
    ).get({ timeout: 30 });
    const third = await (
      await client.sendTask<{ pid: number; thread: number }>('pool.where', [])
    ).get({ timeout: 15 });
    expect(`${second.pid}/${second.thread}`).toBe(`${first.pid}/${first.thread}`);
    expect(`${third.pid}/${third.thread}`).not.toBe(`${second.pid}/${second.thread}`);
  });
});

describe.each(['threads', 'processes'] as const)('the %s pool, alone', (pool) => {
  it('keeps leases, heartbeats and other tasks going while a task spins forever', async (ctx) => {
    const { client, start, logLines } = testWorld(ctx);
    // A lease of 1.5 s: were the worker's event loop stalled, a second worker would take
    // the spinning task over and run it again.
    const leaseEnv = { TEST_LEASE_MS: '1500' };
    const busy = await start(['-P', pool, '-c', '2', '-n', 'busy@test'], leaseEnv);
    const spinning = await client.sendTask('pool.forever', []);
    await waitUntil(() => logLines().some((line) => line.startsWith('forever')));
    await start(['-c', '1', '-n', 'other@test'], leaseEnv);
    const startedAt = Date.now();
    const others = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.sendTask<string>('pool.record', [`r${i}`])),
    );
    expect(await Promise.all(others.map((r) => r.get({ timeout: 20 })))).toHaveLength(20);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    await sleep(3500); // over two lease periods
    expect(logLines().filter((line) => line.startsWith('forever'))).toHaveLength(1);
    const registry = (await client.resultBackend()).workerRegistry?.();
    const online = await registry?.online(Date.now());
    const seen = online?.find((w) => w.hostname === 'busy@test');
    expect(seen).toBeDefined();
    expect(Date.now() - (seen?.seenAt ?? 0)).toBeLessThan(4000);
    await registry?.close();
    expect(await spinning.state()).toBe('STARTED');
    // The spinning member is stopped by a revoke with terminate.
    await spinning.revoke({ terminate: true });
    await expect(spinning.get({ timeout: 10 })).rejects.toThrow(/revoked/);
    expect(await spinning.state()).toBe('REVOKED');
    expect(busy.output()).not.toMatch(/started again/);
  });
});

describe('pool members and their worker', () => {
  it('no child of the processes pool outlives a worker killed with SIGKILL mid busy loop', async (ctx) => {
    const { client, start, logLines } = testWorld(ctx);
    const worker = await start(['-P', 'processes', '-c', '2']);
    await client.sendTask('pool.forever', []);
    await waitUntil(() => logLines().some((line) => line.startsWith('forever')));
    const children = childPids(worker.child.pid as number);
    expect(children).toHaveLength(2);
    worker.child.kill('SIGKILL');
    await worker.exited;
    await waitUntil(() => children.every((pid) => !alive(pid)), 5000);
  });

  it('grows with --autoscale while tasks wait', async (ctx) => {
    const { client, start } = testWorld(ctx);
    const worker = await start(['-P', 'threads', '--autoscale', '3,1']);
    expect(worker.output()).toMatch(/concurrency=1 autoscale=3,1/);
    const spins = (n: number) =>
      Promise.all(
        Array.from({ length: n }, () => client.sendTask<{ thread: number }>('pool.spin', [800])),
      );
    const results = await spins(8);
    await worker.waitFor(/Autoscale: growing the pool from 1 to/, 60_000);
    // On a loaded machine the first thread can run all eight before the new threads have
    // loaded the app; those sent once the pool grew run on the grown pool.
    const more = await spins(3);
    const places = await Promise.all([...results, ...more].map((r) => r.get({ timeout: 60 })));
    expect(new Set(places.map((p) => p.thread)).size).toBeGreaterThan(1);
  }, 120_000);

  it('refuses a pool name it does not know', async (ctx) => {
    const { run: cli } = testWorld(ctx);
    const run = cli(['-A', APP, 'worker', '-P', 'gevent']);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/Allowed choices are async, threads, processes/);
  });
});
