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
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, runCli, startWorker, type WorkerProcess } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/pool-app.ts';

let dir: string;
let url: string;
let runLog: string;
let client: Celeriac;
let env: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-pools-'));
  url = `sqlite://${path.join(dir, 'broker.db')}`;
  runLog = path.join(dir, 'runs.log');
  env = { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: runLog };
  client = new Celeriac({ broker: url });
});

afterEach(async () => {
  await killAll();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

const logLines = () =>
  existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean) : [];

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

describe.each(['threads', 'processes'] as const)('the %s pool', (pool) => {
  const start = (flags: string[], extraEnv: Record<string, string> = {}): Promise<WorkerProcess> =>
    startWorker(APP, { ...env, ...extraEnv }, ['-P', pool, ...flags]);

  it('runs tasks outside the worker thread, one member per slot', async () => {
    const worker = await start(['-c', '2']);
    expect(worker.output()).toMatch(new RegExp(`pool=${pool} concurrency=2`));
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.sendTask<{ pid: number; thread: number }>('pool.spin', [150]),
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

  it('keeps leases, heartbeats and other tasks going while a task spins forever', async () => {
    // A lease of 1.5 s: were the worker's event loop stalled, a second worker would take
    // the spinning task over and run it again.
    const leaseEnv = { TEST_LEASE_MS: '1500' };
    const busy = await start(['-c', '2', '-n', 'busy@test'], leaseEnv);
    const spinning = await client.sendTask('pool.forever', []);
    await waitUntil(() => logLines().some((line) => line.startsWith('forever')));
    await startWorker(APP, { ...env, ...leaseEnv }, ['-c', '1', '-n', 'other@test']);
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

  it('kills a busy loop at its hard time limit, records TimeLimitExceeded and goes on', async () => {
    const worker = await start(['-c', '1']);
    const limited = await client.sendTask('pool.foreverLimited', []);
    await expect(limited.get({ timeout: 15 })).rejects.toMatchObject({
      name: 'TimeLimitExceeded',
    });
    expect(await limited.state()).toBe('FAILURE');
    // The one slot has a fresh member: the next task runs.
    const next = await client.sendTask<{ pid: number; thread: number }>('pool.where', []);
    await next.get({ timeout: 15 });
    expect(worker.output()).toMatch(/Killing pool (pid|thread) \d+ running pool\.foreverLimited/);
  });

  it('applies the worker-wide --time-limit and --soft-time-limit', async () => {
    await start(['-c', '2', '--time-limit', '1', '--soft-time-limit', '0.3']);
    const spinning = await client.sendTask('pool.forever', []);
    const soft = await client.sendTask('pool.sleep', [5000]);
    await expect(spinning.get({ timeout: 15 })).rejects.toMatchObject({
      name: 'TimeLimitExceeded',
    });
    await expect(soft.get({ timeout: 15 })).rejects.toMatchObject({
      name: 'SoftTimeLimitExceeded',
    });
  });

  it('lets a task catch its soft time limit', async () => {
    await start(['-c', '1']);
    const result = await client.sendTask<{ reason: boolean }>('pool.catchSoft', []);
    expect(await result.get({ timeout: 15 })).toMatchObject({ reason: true });
  });

  it('carries failures, automatic and explicit retries, and progress back to the worker', async () => {
    await start(['-c', '2']);
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
  });

  it('fails a task whose member dies with WorkerLostError and replaces the member', async () => {
    await start(['-c', '1']);
    const crashed = await client.sendTask('pool.crash', []);
    await expect(crashed.get({ timeout: 15 })).rejects.toMatchObject({ name: 'WorkerLostError' });
    const next = await client.sendTask<{ pid: number }>('pool.where', []);
    await next.get({ timeout: 15 });
  });

  it('replaces a member after --max-tasks-per-child tasks', async () => {
    await start(['-c', '1', '--max-tasks-per-child', '2']);
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

  it('replaces a member whose memory passed --max-memory-per-child', async () => {
    await start(['-c', '1', '--max-memory-per-child', String(200 * 1024)]);
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

describe('pool members and their worker', () => {
  it('no child of the processes pool outlives a worker killed with SIGKILL mid busy loop', async () => {
    const worker = await startWorker(APP, env, ['-P', 'processes', '-c', '2']);
    await client.sendTask('pool.forever', []);
    await waitUntil(() => logLines().some((line) => line.startsWith('forever')));
    const children = childPids(worker.child.pid as number);
    expect(children).toHaveLength(2);
    worker.child.kill('SIGKILL');
    await worker.exited;
    await waitUntil(() => children.every((pid) => !alive(pid)), 5000);
  });

  it('grows with --autoscale while tasks wait', async () => {
    const worker = await startWorker(APP, env, ['-P', 'threads', '--autoscale', '3,1']);
    expect(worker.output()).toMatch(/concurrency=1 autoscale=3,1/);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => client.sendTask<{ thread: number }>('pool.spin', [800])),
    );
    const places = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
    expect(new Set(places.map((p) => p.thread)).size).toBeGreaterThan(1);
    await worker.waitFor(/Autoscale: growing the pool from 1 to/);
  });

  it('refuses a pool name it does not know', async () => {
    const run = runCli(['-A', APP, 'worker', '-P', 'gevent'], env);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/Allowed choices are async, threads, processes/);
  });
});
