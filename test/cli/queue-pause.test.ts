/**
 * `celeriac queue pause` stores the pause in the worker registry (SQLite, a temp file), so a
 * running `celeriac worker` stops consuming the queue at its next heartbeat: a task sent
 * then stays queued, `celeriac status` marks and lists the pause, a worker started later
 * starts with it paused, and `celeriac queue resume` lets the task run.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('celeriac queue pause / resume', () => {
  it('pauses a queue for a running worker and one started later; resume runs the waiting task', async (test) => {
    const { env } = sqliteEnv('queue-pause');
    const app = new Celeriac({ broker: env.CELERIAC_BROKER_URL });
    test.onTestFinished(() => app.close());
    const backend = await app.resultBackend();
    const send = () => app.sendTask('cli.add', [2, 3], { queue: 'celery' });

    const worker = await startWorker(APP, env, ['-n', 'pause@test', '-Q', 'celery']);
    const before = await send();
    await vi.waitFor(async () => expect((await backend.get(before.id))?.result).toBe(5), {
      timeout: 15_000,
    });

    const paused = await runToEnd(['-A', APP, 'queue', 'pause', 'celery'], env);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/^queue celery: paused$/m);
    expect(paused.stdout).toMatch(/^paused queues: celery$/m);
    await worker.waitFor(/Queue celery paused/, 10_000);

    const waiting = await send();
    const status = await runToEnd(['-A', APP, 'status', '-Q', 'celery'], env);
    expect(status.stdout).toMatch(/^queue celery: 1 waiting \(paused\)$/m);
    expect(status.stdout).toMatch(/^paused queues: celery$/m);
    expect(status.stdout).toMatch(/^-> pause@test: OK/m);

    // A worker started while the queue is paused starts with it paused.
    const later = await startWorker(APP, env, ['-n', 'later@test', '-Q', 'celery']);
    expect(later.output()).toMatch(/paused=celery /);
    await sleep(4500); // two heartbeats of each worker
    expect(await backend.get(waiting.id)).toBeUndefined();
    expect(await (await app.broker()).queueLength('celery')).toBe(1);

    const resumed = await runToEnd(['-A', APP, 'queue', 'resume', 'celery'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^queue celery: resumed$/m);
    expect(resumed.stdout).toMatch(/^paused queues: none$/m);
    await vi.waitFor(async () => expect((await backend.get(waiting.id))?.result).toBe(5), {
      timeout: 15_000,
    });
    const idle = await runToEnd(['-A', APP, 'status', '-Q', 'celery'], env);
    expect(idle.stdout).toMatch(/^queue celery: 0 waiting$/m);
    expect(idle.stdout).toMatch(/^paused queues: none$/m);
  }, 120_000);
});
