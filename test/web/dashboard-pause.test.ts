/**
 * A queue paused from the dashboard is stored in the worker registry, so it holds for real
 * `celeriac worker` processes across a restart: tasks sent while it is paused wait in the
 * queue, a worker started after the pause does not take them, and after resume they run.
 * On SQLite (a temp file) and on Redis (own key prefix, deleted after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createDashboard } from '../../src/web/dashboard/index.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { killAll, startWorker } from '../support/worker-process.js';

const APP = 'test/worker/fixtures/app.ts';
const CSRF = 'abcdefghijklmnopqrstuvwx';

afterEach(() => killAll());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['sqlite', 'redis'] as const)('dashboard queue pause on %s', (kind) => {
  it('holds through a worker restart and reaches a worker started later; resume runs the tasks', async (test) => {
    let url: string;
    if (kind === 'redis') {
      await requireService(test, 'redis');
      const prefix = `test-pause-${randomUUID()}:`;
      url = `${REDIS_URL}/0?keyPrefix=${prefix}`;
      test.onTestFinished(() => deleteRedisPrefix(prefix));
    } else {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-pause-'));
      url = `sqlite://${path.join(dir, 'broker.db')}`;
      test.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    }
    const queue = `pausing-${randomUUID().slice(0, 8)}`;
    const app = new Celeriac({ broker: url });
    test.onTestFinished(() => app.close());
    const backend = await app.resultBackend();
    const dashboard = createDashboard(app, { allowAnonymous: true, queues: [queue] });
    const act = async (action: 'pause' | 'resume', confirm: boolean) => {
      const response = await dashboard(
        new Request('http://shop.example/dashboard/queues', {
          method: 'POST',
          headers: {
            cookie: `celeriac_csrf=${CSRF}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: `csrf=${CSRF}&queue=${queue}&action=${action}${confirm ? '&confirm=yes' : ''}`,
        }),
      );
      expect(response!.status).toBe(200);
      return response!.text();
    };
    const queuesPage = async () =>
      (await dashboard(new Request('http://shop.example/dashboard/queues')))!.text();
    const env = { CELERIAC_BROKER_URL: url };
    const send = (tag: string) => app.sendTask('test.record', [tag], { queue });

    const first = await startWorker(APP, env, ['-Q', queue, '-c', '2']);
    const before = await send('before');
    await vi.waitFor(async () => expect((await backend.get(before.id))?.result).toBe('before'), {
      timeout: 15_000,
    });

    // The confirmation changes nothing; the confirmed pause is stored and the worker follows it.
    expect(await act('pause', false)).toContain(`pause queue ${queue} for every worker`);
    expect(await app.resultBackend().then((b) => b.workerRegistry!().pausedQueues!())).toEqual([]);
    expect(await act('pause', true)).toMatch(/id="operation-done">Done: pause queue/);
    await first.waitFor(new RegExp(`Queue ${queue} paused`), 10_000);
    const waiting = await send('while-paused');
    await sleep(3000);
    expect(await backend.get(waiting.id)).toBeUndefined();
    expect(await queuesPage()).toContain('data-paused="stored"');

    // A restart of the worker (and a second worker started later) keep the queue paused.
    first.child.kill('SIGTERM');
    await first.exited;
    const later = await startWorker(APP, env, ['-Q', queue, '-c', '2']);
    expect(later.output()).toMatch(new RegExp(`queues=${queue} paused=${queue} `));
    const second = await startWorker(APP, env, ['-Q', `${queue},other-${queue}`]);
    expect(second.output()).toMatch(new RegExp(`paused=${queue} `));
    await sleep(4500); // two heartbeats of each worker
    expect(await backend.get(waiting.id)).toBeUndefined();
    expect(await (await app.broker()).queueLength(queue)).toBe(1);

    // Resume: the workers pick it up at their next heartbeat and the waiting task runs.
    expect(await act('resume', true)).toMatch(/Done: resume queue/);
    await vi.waitFor(
      async () => expect((await backend.get(waiting.id))?.result).toBe('while-paused'),
      { timeout: 15_000 },
    );
    await later.waitFor(new RegExp(`Queue ${queue} resumed`), 10_000);
    expect(await queuesPage()).not.toContain('data-paused="stored"');
  }, 90_000);
});
