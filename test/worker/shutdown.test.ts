/**
 * Warm, soft and cold shutdown of real worker processes (Celery 5.5's three): SIGTERM lets
 * running tasks finish; a second SIGTERM with --soft-shutdown-timeout gives them that long,
 * then gives back what still runs; SIGQUIT (or a second signal without a soft timeout)
 * gives them back at once. Nothing acknowledged is lost, nothing finished runs twice, and
 * no pool child outlives its worker.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { CLI, ROOT, killAll, startWorker } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/pool-app.ts';

let dir: string;
let url: string;
let runLog: string;
let client: Celeriac;
let env: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-shutdown-'));
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
const started = (id: string) => logLines().filter((l) => l.startsWith(`start ${id}`)).length;
const ended = (id: string) => logLines().filter((l) => l.startsWith(`end ${id}`)).length;

async function waitUntil(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(25);
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid)
        out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('shutdown', () => {
  it('soft: a second SIGTERM gives running tasks the soft timeout, then requeues the rest', async () => {
    const worker = await startWorker(APP, env, ['-c', '2', '--soft-shutdown-timeout', '1.5']);
    const short = await client.sendTask<number>('pool.sleep', [1200]);
    const long = await client.sendTask<number>('pool.sleep', [8000]);
    await waitUntil(() => started(short.id) === 1 && started(long.id) === 1);
    worker.child.kill('SIGTERM');
    await worker.waitFor(/warm shutdown/);
    const softAt = Date.now();
    worker.child.kill('SIGTERM');
    await worker.waitFor(/soft shutdown, running tasks have 1\.5 s/);
    expect(await worker.exited).toBe(0);
    const took = Date.now() - softAt;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(5000);
    expect(await short.state()).toBe('SUCCESS');
    expect(await long.state()).toBe('STARTED');
    expect(await (await client.broker()).queueLength('celery')).toBe(1);
    // The requeued task runs to its end on the next worker; the finished one never again.
    await startWorker(APP, env, ['-c', '1']);
    expect(await long.get({ timeout: 30 })).toBe(8000);
    expect(ended(short.id)).toBe(1);
    expect(ended(long.id)).toBe(1);
  });

  it('cold: SIGQUIT requeues running tasks at once and exits 1', async () => {
    const worker = await startWorker(APP, env, ['-c', '1']);
    const running = await client.sendTask<number>('pool.sleep', [8000]);
    await waitUntil(() => started(running.id) === 1);
    const quitAt = Date.now();
    worker.child.kill('SIGQUIT');
    expect(await worker.exited).toBe(1);
    expect(Date.now() - quitAt).toBeLessThan(4000);
    expect(worker.output()).toMatch(/SIGQUIT: cold shutdown/);
    expect(await running.state()).toBe('STARTED');
    expect(await (await client.broker()).queueLength('celery')).toBe(1);
  });

  it('warm on the processes pool: the running task finishes, then the children exit', async () => {
    const worker = await startWorker(APP, env, ['-P', 'processes', '-c', '1']);
    const children = childPids(worker.child.pid as number);
    expect(children).toHaveLength(1);
    const running = await client.sendTask<number>('pool.sleep', [1500]);
    await waitUntil(() => started(running.id) === 1);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await running.state()).toBe('SUCCESS');
    await waitUntil(() => children.every((pid) => !alive(pid)), 5000);
  });

  it('cold on the processes pool: a busy loop is killed, its message requeued, no child left', async () => {
    const worker = await startWorker(APP, env, ['-P', 'processes', '-c', '1']);
    const children = childPids(worker.child.pid as number);
    const spinning = await client.sendTask('pool.forever', []);
    await waitUntil(() => logLines().some((line) => line.startsWith('forever')));
    worker.child.kill('SIGTERM');
    await worker.waitFor(/warm shutdown/);
    const coldAt = Date.now();
    worker.child.kill('SIGQUIT');
    expect(await worker.exited).toBe(1);
    expect(Date.now() - coldAt).toBeLessThan(5000);
    await waitUntil(() => children.every((pid) => !alive(pid)), 5000);
    expect(await spinning.state()).toBe('STARTED');
    expect(await (await client.broker()).queueLength('celery')).toBe(1);
  });

  it('Ctrl-C (SIGINT to the whole process group) is warm on the processes pool: the child finishes its task', async () => {
    // Its own process group, as a terminal gives a command, so the test can signal all of it.
    const worker = spawn(
      process.execPath,
      [CLI, '-A', APP, 'worker', '-l', 'info', '-P', 'processes', '-c', '1'],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const group = worker.pid as number;
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(worker, 'exit');
    try {
      await waitUntil(() => output.includes('ready: queues='), 30_000);
      const running = await client.sendTask<number>('pool.sleep', [1500]);
      await waitUntil(() => started(running.id) === 1);
      process.kill(-group, 'SIGINT');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(await running.get({ timeout: 5 })).toBe(1500);
      expect(output).not.toMatch(/WorkerLostError/);
    } finally {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // the whole group is gone
      }
    }
  });
});
