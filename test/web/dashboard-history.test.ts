/**
 * Task history across restarts, with real worker processes on SQLite and on Redis: a task
 * that retries once, one that fails and one revoked before it runs leave their events
 * (sent by the client app, received/started/retried/succeeded/failed/revoked by the
 * workers) in the result backend; after every worker is stopped and the client app
 * closed, a fresh app's dashboard shows each timeline from the history, in order, with
 * who recorded each event. An app without the option records nothing, and its timeline
 * comes from the stored meta.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createDashboard } from '../../src/web/dashboard/index.js';
import type { TaskHistoryEvent } from '../../src/backends/task-history.js';
import { killAll, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/web/fixtures/history-app.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setup(kind: 'sqlite' | 'redis', test: TestContext) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-history-'));
  let url = `sqlite://${path.join(dir, 'history.db')}`;
  let keyPrefix = '';
  if (kind === 'redis') {
    await requireService(test, 'redis');
    url = REDIS_URL;
    keyPrefix = `celeriac-test:history-${randomUUID().slice(0, 8)}:`;
  }
  const apps: Celeriac[] = [];
  cleanups.push(async () => {
    for (const app of apps) await app.close();
    if (keyPrefix) await deleteRedisPrefix(keyPrefix);
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (taskHistory: boolean) => {
    const app = new Celeriac({ broker: url, keyPrefix: keyPrefix || undefined, taskHistory });
    apps.push(app);
    return app;
  };
  return { env: { CELERIAC_BROKER_URL: url, TEST_KEY_PREFIX: keyPrefix }, open };
}

async function timelineOf(app: Celeriac, id: string): Promise<string> {
  const dashboard = createDashboard(app, { readOnly: true });
  const response = (await dashboard(new Request(`http://x/dashboard/tasks/${id}`)))!;
  expect(response.status).toBe(200);
  const page = await response.text();
  const list = /<ol class="timeline" id="task-timeline" data-source="(\w+)">([\s\S]*?)<\/ol>/.exec(
    page,
  );
  expect(list, page).not.toBeNull();
  return `${list![1]}: ${list![2]!
    .replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ')
    .trim()}`;
}

const types = (events: TaskHistoryEvent[]) => events.map((e) => e.type.replace('task-', ''));

async function historyOf(app: Celeriac, id: string): Promise<TaskHistoryEvent[]> {
  return (await app.resultBackend()).taskHistory!().read(id);
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(50);
  }
}

describe.each(['sqlite', 'redis'] as const)('task history on %s', (kind) => {
  it('keeps each task’s events across restarts of the app and of every worker', async (test) => {
    const { env, open } = await setup(kind, test);
    const client = open(true);
    // Sent before any worker runs: a worker's first deliveries come as it starts, and count.
    const retried = await client.sendTask('history.retryOnce', [21]);
    const failed = await client.sendTask('history.boom', []);
    const worker = await startWorker(APP, env, ['-c', '2', '-n', 'a@history']);
    expect(await retried.get({ timeout: 15 })).toBe(42);
    await expect(failed.get({ timeout: 15 })).rejects.toThrow(/out of range/);
    // Revoked before it is due: the worker drops it when it comes and records that.
    const revoked = await client.sendTask('history.quick', [1], { countdown: 1 });
    await revoked.revoke();
    const seen = await until(
      () => historyOf(client, revoked.id),
      (events) => events.some((e) => e.type === 'task-revoked'),
    );
    expect(types(seen)).toContain('revoked');
    await until(
      () => historyOf(client, retried.id),
      (events) => events.length >= 8,
    );
    // Every worker stopped, the client app closed: only the backend remembers.
    worker.child.kill('SIGTERM');
    await worker.exited;
    await client.close();

    const later = open(false);
    const history = await historyOf(later, retried.id);
    // The retry is a new message the worker sends (its app records that sent too).
    expect(types(history)).toEqual([
      'sent',
      'received',
      'started',
      'sent',
      'retried',
      'received',
      'started',
      'succeeded',
    ]);
    expect(history[0]!.hostname).toMatch(/^gen\d+@/);
    const byWorker = history.filter((e) => e.type !== 'task-sent');
    expect(byWorker.every((e) => e.hostname === 'a@history')).toBe(true);
    expect(history[4]!.detail).toMatch(/not yet/);
    for (let i = 1; i < history.length; i++)
      expect(history[i]!.at).toBeGreaterThanOrEqual(history[i - 1]!.at);

    const retriedLine = await timelineOf(later, retried.id);
    expect(retriedLine).toMatch(
      /^history: sent .* received .* started .* sent .* retried .* received .* retry 1.* started .* success .*$/,
    );
    expect(retriedLine).toContain('on a@history');
    const failedLine = await timelineOf(later, failed.id);
    expect(failedLine).toMatch(/^history: sent .* received .* started .* failure .*RangeError/);
    expect(types(await historyOf(later, revoked.id))).toEqual(['sent', 'received', 'revoked']);
  }, 60_000);

  it('records nothing without the option; the timeline then comes from the stored meta', async (test) => {
    const { env, open } = await setup(kind, test);
    await startWorker(APP, { ...env }, ['-c', '1', '-n', 'b@history']);
    const client = open(false);
    const result = await client.sendTask('history.quick', [3]);
    expect(await result.get({ timeout: 15 })).toBe(3);
    // The worker's app keeps history (its module says so): only the client's sent is missing.
    const events = await until(
      () => historyOf(client, result.id),
      (found) => found.length >= 3,
    );
    expect(types(events)).toEqual(['received', 'started', 'succeeded']);
    const id = randomUUID();
    await (
      await client.resultBackend()
    ).store({
      task_id: id,
      status: 'SUCCESS',
      result: 1,
      traceback: null,
      children: [],
      date_done: new Date().toISOString(),
    });
    expect(await timelineOf(client, id)).toMatch(/^meta: success/);
  }, 60_000);
});
