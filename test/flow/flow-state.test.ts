/**
 * Each worker's flow-control state, read from real worker processes on Redis: the
 * `flow_state` remote-control command, `app.flow.workers()` and `celeriac inspect
 * flow_state --json` agree on who runs which key, what waits, and the current rate.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { Celeriac, type WorkerFlow } from '../../src/index.js';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { createDashboard } from '../../src/web/dashboard/index.js';

const APP = 'test/flow/fixtures/flow-app.ts';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Per key of flow.locked across the workers: how many run, how many wait. */
function locked(workers: WorkerFlow[]) {
  const running: Record<string, number> = {};
  const waiting: Record<string, number> = {};
  for (const { tasks } of workers)
    for (const t of tasks.filter((t) => t.task === 'flow.locked')) {
      for (const r of t.running) running[r.key ?? ''] = (running[r.key ?? ''] ?? 0) + r.count;
      for (const w of t.waiting) waiting[w.key ?? ''] = (waiting[w.key ?? ''] ?? 0) + w.count;
    }
  return { running, waiting };
}

it(
  'flow_state: each worker’s running, waiting and rate, by API and CLI',
  { timeout: 60_000 },
  async (ctx) => {
    await requireService(ctx, 'redis');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-flowstate-'));
    const runLog = path.join(dir, 'runs.log');
    const keyPrefix = `celeriac-test:fstate-${randomUUID().slice(0, 8)}:`;
    const env = {
      CELERIAC_BROKER_URL: REDIS_URL,
      TEST_RUN_LOG: runLog,
      TEST_KEY_PREFIX: keyPrefix,
    };
    const client = new Celeriac({ broker: REDIS_URL, keyPrefix });
    cleanups.push(async () => {
      await client.close();
      await deleteRedisPrefix(keyPrefix);
      rmSync(dir, { recursive: true, force: true });
    });
    // Three slots each: a worker running both held keys still has a slot free, so the calls
    // waiting for k1 are taken and held (not left unfetched behind full slots).
    await Promise.all(
      ['a', 'b', 'c'].map((n) => startWorker(APP, env, ['-c', '3', '-n', `${n}@fstate`])),
    );
    const lines = () => (existsSync(runLog) ? readFileSync(runLog, 'utf8') : '');
    // A burst of the rate-limited task (20/s), then keys held long enough to look at.
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.sendTask('flow.limited', [i])));
    // Every run of the burst has started before the keys are taken (under load the last may
    // lag): the snapshots below come while both keys are still held.
    while ((lines().match(/^rate /gm) ?? []).length < 10) await sleep(20);
    await client.sendTask('flow.locked', ['k1', 20_000]);
    await client.sendTask('flow.locked', ['k2', 20_000]);
    while ((lines().match(/^start k/gm) ?? []).length < 2) await sleep(20);
    await client.sendTask('flow.locked', ['k1', 10]);
    await client.sendTask('flow.locked', ['k1', 10]);
    // A worker shows a call waiting once it has taken its delivery: ask until both are taken.
    let workers = await client.flow.workers({ timeout: 2 });
    for (let tries = 0; tries < 20 && locked(workers).waiting.k1 !== 2; tries++) {
      await sleep(250);
      workers = await client.flow.workers({ timeout: 2 });
    }
    expect(workers.map((w) => w.worker).sort()).toEqual(['a@fstate', 'b@fstate', 'c@fstate']);
    const { running, waiting } = locked(workers);
    expect(running).toEqual({ k1: 1, k2: 1 });
    expect(waiting).toEqual({ k1: 2 });
    const rates = workers.flatMap((w) => w.tasks.filter((t) => t.task === 'flow.limited'));
    const started = rates.reduce((sum, t) => sum + t.startedPerSecond * 10, 0);
    expect(Math.round(started)).toBe(10); // every run of the burst, in the last 10 s

    // The dashboard's /flow page shows the same.
    const dashboard = createDashboard(client, { readOnly: true });
    const answer = await dashboard(new Request('http://localhost/dashboard/flow'));
    expect(answer?.status).toBe(200);
    const page = await answer!.text();
    for (const text of ['a@fstate', 'b@fstate', 'c@fstate', 'flow.locked', 'k1: 1', 'k2: 1'])
      expect(page).toContain(text);
    // The two waiting calls of k1 may wait on one worker or on two: the page shows each's own.
    const waitingOnPage = [...page.matchAll(/k1, concurrency: (\d+)/g)].map((m) => Number(m[1]));
    expect(waitingOnPage.reduce((sum, n) => sum + n, 0)).toBe(2);

    const cli = runCli(['-A', APP, 'inspect', 'flow_state', '--json', '-t', '2'], env);
    expect(await cli.exited).toBe(0);
    const answered = JSON.parse(cli.output().trim().split('\n').pop()!) as Record<
      string,
      WorkerFlow['tasks']
    >;
    expect(Object.keys(answered).sort()).toEqual(['a@fstate', 'b@fstate', 'c@fstate']);
    const fromCli = locked(Object.entries(answered).map(([worker, tasks]) => ({ worker, tasks })));
    expect(fromCli.running).toEqual({ k1: 1, k2: 1 });
    expect(fromCli.waiting).toEqual({ k1: 2 });
  },
);
