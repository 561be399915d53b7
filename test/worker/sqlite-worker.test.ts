/**
 * Real worker processes against a real SQLite file: nothing lost, nothing doubled, kill -9
 * recovery, countdown, retries, expiry, graceful and cold shutdown, bad input.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac, TaskNotRegisteredError } from '../../src/index.js';
import { encodeTaskMessage } from '../../src/protocol/task-message.js';
import { killAll, startWorker } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/app.ts';

let dir: string;
let url: string;
let runLog: string;
let client: Celeriac;
let env: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-worker-'));
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

describe('worker on SQLite', () => {
  it('runs many tasks across two workers with none lost and none run twice', async () => {
    const a = await startWorker(APP, env, ['-c', '8', '-n', 'a@test']);
    const b = await startWorker(APP, env, ['-c', '8', '-n', 'b@test']);
    const count = 600;
    const results = await client.sendMany(
      Array.from({ length: count }, (_, i) => ({ task: 'test.record', args: [`t${i}`] })),
    );
    const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: count }, (_, i) => `t${i}`));
    const lines = logLines();
    const tags = lines.map((line) => line.split(' ')[0]);
    expect(tags).toHaveLength(count);
    expect(new Set(tags).size).toBe(count);
    const pids = new Set(lines.map((line) => line.split(' ')[1]));
    expect(pids.size).toBe(2); // both workers took part
    expect(a.output()).not.toMatch(/ERROR/);
    expect(b.output()).not.toMatch(/ERROR/);
  });

  it('gives a task held by a worker killed with SIGKILL to another worker', async () => {
    const leaseEnv = { ...env, TEST_LEASE_MS: '1500' };
    const victim = await startWorker(APP, leaseEnv, ['-c', '1', '-n', 'victim@test']);
    const result = await client.sendTask<{ pid: number; redelivered: boolean }>(
      'test.sleep',
      [1500],
    );
    await victim.waitFor(/test\.sleep/); // received
    while (!logLines().some((l) => l.startsWith('start'))) await sleep(20);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const rescuer = await startWorker(APP, leaseEnv, ['-c', '1', '-n', 'rescuer@test']);
    const value = await result.get({ timeout: 30 });
    expect(value.pid).toBe(rescuer.child.pid);
    expect(value.redelivered).toBe(true);
    expect(logLines().filter((l) => l.startsWith('end'))).toHaveLength(1);
  });

  it('keeps an hour-long-style task on its live worker past many lease periods', async () => {
    const leaseEnv = { ...env, TEST_LEASE_MS: '600' };
    await startWorker(APP, leaseEnv, ['-c', '1', '-n', 'first@test']);
    await startWorker(APP, leaseEnv, ['-c', '1', '-n', 'second@test']);
    const result = await client.sendTask<{ pid: number; redelivered: boolean }>(
      'test.sleep',
      [3000],
    );
    const value = await result.get({ timeout: 30 });
    const starts = logLines().filter((l) => l.startsWith('start'));
    expect(starts).toHaveLength(1); // five lease periods passed; heartbeats kept it from a second run
    expect(starts[0]?.split(' ')[2]).toBe(String(value.pid));
    expect(value.redelivered).toBe(false);
  });

  it('honours countdown without holding a worker slot', async () => {
    await startWorker(APP, env, ['-c', '1']);
    const sentAt = Date.now();
    const delayed = await client.sendTask<number>('test.stamp', [], { countdown: 1.5 });
    const immediate = await client.sendTask<number>('test.add', [1, 2]);
    expect(await immediate.get({ timeout: 10 })).toBe(3);
    expect(Date.now() - sentAt).toBeLessThan(1200); // the single slot was not held by the delayed task
    const ranAt = await delayed.get({ timeout: 10 });
    expect(ranAt - sentAt).toBeGreaterThanOrEqual(1500);
  });

  it('retries with exponential backoff until the task succeeds', async () => {
    await startWorker(APP, env, ['-c', '2']);
    const result = await client.sendTask<number>('test.flaky', [3]);
    expect(await result.get({ timeout: 20 })).toBe(3);
    const attempts = logLines()
      .filter((l) => l.startsWith('attempt'))
      .map((l) => Number(l.split(' ')[3]));
    expect(attempts).toHaveLength(4);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    // backoff 0.2 s doubling without jitter: ~200, ~400, ~800 ms
    expect(gaps[0]).toBeGreaterThanOrEqual(180);
    expect(gaps[1]).toBeGreaterThanOrEqual(380);
    expect(gaps[2]).toBeGreaterThanOrEqual(780);
  });

  it('records FAILURE with the error type and message when retries are not asked for', async () => {
    await startWorker(APP, env, ['-c', '2']);
    const result = await client.sendTask('test.fail', ['card declined']);
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({
      name: 'TypeError',
      message: 'card declined',
    });
    expect(await result.state()).toBe('FAILURE');
  });

  it('does not run an expired task and marks it REVOKED', async () => {
    const result = await client.sendTask('test.record', ['expired'], { expires: 0.2 });
    await sleep(400);
    await startWorker(APP, env, ['-c', '1']);
    await expect(result.get({ timeout: 10 })).rejects.toThrow(/expired/);
    expect(await result.state()).toBe('REVOKED');
    expect(logLines()).toEqual([]);
  });

  it('fires the AbortSignal at the soft time limit', async () => {
    await startWorker(APP, env, ['-c', '1']);
    const result = await client.sendTask('test.softLimit', []);
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({
      name: 'SoftTimeLimitExceeded',
    });
  });

  it('lets a running task finish on SIGTERM and exits cleanly, leaving queued tasks queued', async () => {
    const worker = await startWorker(APP, env, ['-c', '1', '--prefetch-multiplier', '2']);
    const running = await client.sendTask('test.sleep', [1000]);
    const queued = await client.sendTask('test.add', [2, 2], { countdown: 0 });
    while (!logLines().some((l) => l.startsWith('start'))) await sleep(20);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await running.state()).toBe('SUCCESS');
    expect(await queued.state()).toBe('PENDING');
    const broker = await client.broker();
    expect(await broker.queueLength('celery')).toBe(1);
  });

  it('gives running tasks back to the queue on a second signal', async () => {
    const worker = await startWorker(APP, env, ['-c', '1']);
    const result = await client.sendTask<{ pid: number }>('test.sleep', [5000]);
    while (!logLines().some((l) => l.startsWith('start'))) await sleep(20);
    worker.child.kill('SIGTERM');
    await worker.waitFor(/warm shutdown/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(1);
    const next = await startWorker(APP, env, ['-c', '1']);
    expect((await result.get({ timeout: 20 })).pid).toBe(next.child.pid);
  });

  it('rejects a malformed message and an unknown task with one log line each and keeps running', async () => {
    const worker = await startWorker(APP, env, ['-c', '2']);
    const broker = await client.broker();
    await broker.publish(
      {
        body: Buffer.from('{not json'),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {},
        properties: {},
      },
      { queue: 'celery' },
    );
    const unknown = await client.sendTask('no.such.task', [1]);
    const valid = await client.sendTask('test.add', [20, 22]);
    expect(await valid.get({ timeout: 10 })).toBe(42);
    await expect(unknown.get({ timeout: 10 })).rejects.toBeInstanceOf(TaskNotRegisteredError);
    await worker.waitFor(/Rejected a malformed message/);
    await worker.waitFor(/Rejected task .*unknown task "no\.such\.task"/);
    expect(worker.child.exitCode).toBeNull();
  });

  it('maps keyword arguments sent by Python-style callers onto declared params', async () => {
    await startWorker(APP, env, ['-c', '1']);
    const message = encodeTaskMessage({
      task: 'test.add',
      id: 'kw-1',
      args: [1],
      kwargs: { b: 41 },
      origin: 'test',
    });
    const broker = await client.broker();
    await broker.publish(message, { queue: 'celery' });
    expect(await client.asyncResult('kw-1').get({ timeout: 10 })).toBe(42);
  });

  it('does not run a task revoked before it starts', async () => {
    const result = await client.sendTask('test.record', ['revoked-early']);
    await result.revoke();
    await startWorker(APP, env, ['-c', '1']);
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({ name: 'TaskRevokedError' });
    expect(await result.state()).toBe('REVOKED');
    expect(logLines()).toEqual([]);
  });

  it('aborts a running task revoked with terminate and records REVOKED', async () => {
    const worker = await startWorker(APP, env, ['-c', '1']);
    const result = await client.sendTask('test.sleep', [10_000]);
    while (!logLines().some((l) => l.startsWith('start'))) await sleep(20);
    const revokedAt = Date.now();
    await result.revoke({ terminate: true });
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({ name: 'TaskRevokedError' });
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    expect(await result.state()).toBe('REVOKED');
    await worker.waitFor(/Terminating revoked task test\.sleep/);
    expect(logLines().filter((l) => l.startsWith('end'))).toEqual([]);
  });

  it('reports progress that a caller can follow live', async () => {
    await startWorker(APP, env, ['-c', '1']);
    const result = await client.sendTask<number>('test.progress', [4]);
    const seen: string[] = [];
    for await (const meta of result.updates()) {
      seen.push(
        meta.status === 'PROGRESS'
          ? `P${(meta.result as { current: number }).current}`
          : meta.status,
      );
    }
    expect(seen.at(-1)).toBe('SUCCESS');
    expect(seen.filter((s) => s.startsWith('P')).length).toBeGreaterThanOrEqual(2);
  });
});
