/**
 * The dashboard's worker-events feed on a real SQLite file (its broadcast log), with the
 * worker in one app and the dashboard's app beside it as another process would be: a
 * worker started with task events tells every listener of each task as it runs, and once
 * the last listener leaves the feed tells nothing more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Celeriac, Worker } from '../../src/index.js';
import { createLineLogger } from '../../src/logger.js';
import { workerEventsFeed } from '../../src/web/dashboard/event-feed.js';
import type { DashboardEvent } from '../../src/web/dashboard/live.js';

it('tells every listener of a task as the worker reports it, and stops with the last', async (test) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-dash-events-'));
  const url = `sqlite://${path.join(dir, 'events.db')}`;
  const workerApp = new Celeriac({ broker: url, backend: url });
  workerApp.task('t.add', (a: number, b: number) => a + b);
  const app = new Celeriac({ broker: url, backend: url });
  const worker = new Worker(workerApp, {
    hostname: 'w1@test',
    taskEvents: true,
    logger: createLineLogger({ level: 'error' }),
  });
  await worker.start();
  test.onTestFinished(async () => {
    await worker.stop();
    await workerApp.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const feed = workerEventsFeed(() => app.broker());
  const first: DashboardEvent[] = [];
  const second: DashboardEvent[] = [];
  const stopFirst = feed.subscribe((event) => first.push(event));
  const stopSecond = feed.subscribe((event) => second.push(event));
  // The event queue is made on the first subscribe; give it a moment to be bound.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sent = await app.sendTask('t.add', [1, 2]);
  await expect
    .poll(() => first.find((e) => e.taskId === sent.id && e.state === 'SUCCESS'), {
      timeout: 10_000,
    })
    .toBeDefined();
  expect(first.filter((e) => e.taskId === sent.id).map((e) => e.state)).toContain('STARTED');
  await expect
    .poll(() => second.some((e) => e.taskId === sent.id && e.state === 'SUCCESS'))
    .toBe(true);

  stopFirst();
  stopSecond();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const heard = first.length;
  const later = await app.sendTask('t.add', [2, 3]);
  expect(await later.get({ timeout: 10 })).toBe(5);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(first.length).toBe(heard);
});
