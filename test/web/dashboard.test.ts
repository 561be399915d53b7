/**
 * The dashboard handler on its own, over a real SQLite app (no browser): it refuses to be
 * made without an authorize hook unless readOnly or allowAnonymous says so; readOnly
 * refuses every action; the user's mask replaces arguments and results on every page; no
 * page carries an inline script or style and each sends a CSP; `/metrics` parses as
 * Prometheus text with tasks by name and state, queue depths and workers; a backend that
 * cannot list says so plainly; requests outside the prefix are not its own.
 */
import { describe, expect, it } from 'vitest';
import { buildResultMeta } from '../../src/protocol/result-meta.js';
import { createDashboard, DashboardAuthorizationError } from '../../src/web/dashboard/index.js';
import { Celeriac } from '../../src/index.js';
import { openSqliteApp } from './sqlite-app.js';
import { requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { readSse } from './sse-reader.js';

const get = (path: string, init?: RequestInit) => new Request(`http://shop.example${path}`, init);

async function storeTasks(backend: Awaited<ReturnType<Celeriac['resultBackend']>>) {
  for (let i = 1; i <= 4; i++) {
    await backend.store(
      buildResultMeta({
        taskId: `task-${i}`,
        status: i === 4 ? 'FAILURE' : 'SUCCESS',
        result: { card: '4242-secret' },
        extended: {
          name: i % 2 ? 'emails.send' : 'orders.ship',
          args: [{ email: 'ada@example.com' }],
          kwargs: {},
          worker: 'w1',
          retries: 0,
          queue: 'celery',
        },
      }),
    );
  }
}

async function metrics(app: Celeriac) {
  const response = (await createDashboard(app, { readOnly: true })(get('/dashboard/metrics')))!;
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of (await response.text()).trimEnd().split('\n')) {
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(
        line,
      );
    expect(sample, line).not.toBeNull();
    samples.set(`${sample![1]}${sample![2] ?? ''}`, Number(sample![3]));
  }
  return { samples, types };
}

describe('createDashboard', () => {
  it('will not be made without authorize, unless readOnly or allowAnonymous', async (test) => {
    const { app } = await openSqliteApp(test);
    expect(() => createDashboard(app)).toThrow(DashboardAuthorizationError);
    expect(() => createDashboard(app, { readOnly: true })).not.toThrow();
    expect(() => createDashboard(app, { allowAnonymous: true })).not.toThrow();
    expect(() => createDashboard(app, { authorize: () => true })).not.toThrow();
  });

  it('read-only: pages answer, every action is refused', async (test) => {
    const { app, backend } = await openSqliteApp(test);
    await storeTasks(backend);
    const dashboard = createDashboard(app, { readOnly: true });
    const page = await dashboard(get('/dashboard/tasks'));
    expect(page?.status).toBe(200);
    expect(await page!.text()).not.toContain('name="action"');
    const action = await dashboard(
      get('/dashboard/actions', { method: 'POST', body: 'action=delete&id=task-1&confirm=yes' }),
    );
    expect(action?.status).toBe(403);
    expect(await backend.get('task-1')).toBeDefined();
    expect(await dashboard(get('/elsewhere'))).toBeUndefined();
    expect(dashboard.owns('GET', '/dashboard/tasks')).toBe(true);
    expect(dashboard.owns('GET', '/dashboards')).toBe(false);
  });

  it('masks arguments and results on every page, and no page has inline script or style', async (test) => {
    const { app, backend } = await openSqliteApp(test);
    await storeTasks(backend);
    const dashboard = createDashboard(app, {
      allowAnonymous: true,
      mask: (value, { field }) => (field === 'args' || field === 'result' ? '[hidden]' : value),
    });
    for (const path of [
      '/dashboard',
      '/dashboard/tasks',
      '/dashboard/tasks/task-4',
      '/dashboard/queues',
      '/dashboard/workers',
      '/dashboard/schedules',
    ]) {
      const response = (await dashboard(get(path)))!;
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-security-policy'), path).toMatch(
        /default-src 'none'; script-src 'self'/,
      );
      const body = await response.text();
      expect(body, path).not.toMatch(/ada@example\.com|4242-secret/);
      expect(body, path).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i);
      expect(body.length, path).toBeLessThan(150_000);
    }
  });

  it('serves /metrics as Prometheus text: tasks by name and state, queue depths, workers', async (test) => {
    const { app, backend } = await openSqliteApp(test);
    await storeTasks(backend);
    await app.sendTask('emails.send', ['x']);
    const { samples, types } = await metrics(app);
    expect(types.get('celeriac_tasks')).toBe('gauge');
    // Nothing counted (resultExtended off): the overview samples the stored tasks instead.
    const overview = await (await createDashboard(app, { readOnly: true })(
      get('/dashboard'),
    ))!.text();
    expect(overview).toContain('from the 4 most recent stored tasks');
    expect(types.get('celeriac_task_runtime_seconds')).toBe('histogram');
    expect(samples.get('celeriac_tasks{name="emails.send",state="SUCCESS"}')).toBe(2);
    expect(samples.get('celeriac_tasks{name="orders.ship",state="FAILURE"}')).toBe(1);
    expect(samples.get('celeriac_queue_depth{queue="celery"}')).toBe(1);
    expect(samples.get('celeriac_workers')).toBe(0);
  });

  it('with resultExtended, /metrics and the overview chart come from the stored counters', async (test) => {
    const { app, backend } = await openSqliteApp(test, { resultExtended: true });
    await storeTasks(backend);
    const started = new Date(Date.now() - 1500).toISOString();
    await backend.store({
      ...(await backend.get('task-1'))!,
      task_id: 'task-5',
      date_started: started,
    });
    // Counters keep what was stored even after the task is deleted: they are not a sample.
    await backend.forget(['task-2']);
    const { samples, types } = await metrics(app);
    expect(types.get('celeriac_tasks_total')).toBe('counter');
    expect(samples.get('celeriac_tasks_total{name="emails.send",state="SUCCESS"}')).toBe(3);
    expect(samples.get('celeriac_tasks_total{name="orders.ship",state="SUCCESS"}')).toBe(1);
    expect(samples.get('celeriac_tasks_total{name="orders.ship",state="FAILURE"}')).toBe(1);
    expect(samples.get('celeriac_task_runtime_seconds_count{name="emails.send"}')).toBe(1);
    expect(samples.get('celeriac_task_runtime_seconds_bucket{name="emails.send",le="1"}')).toBe(0);
    expect(samples.get('celeriac_task_runtime_seconds_bucket{name="emails.send",le="5"}')).toBe(1);
    expect(samples.get('celeriac_task_runtime_seconds_sum{name="emails.send"}')).toBeGreaterThan(1);
    const overview = await (await createDashboard(app, { readOnly: true })(
      get('/dashboard'),
    ))!.text();
    expect(overview).toContain('from the stored counters');
    // This hour's bar: 4 successes, 1 failure (stores counted, the forgotten one too).
    expect(overview).toMatch(/title="\d\d:00: 4 ok, 1 failed"/);
  });

  it('queues page: depth, ended per minute from the counters, the oldest message, pause on SQLite', async (test) => {
    const { app, backend } = await openSqliteApp(test, { resultExtended: true });
    await storeTasks(backend); // 4 ended in queue celery, just now
    await app.sendTask('emails.send', ['x']);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const page = await (await createDashboard(app, { allowAnonymous: true })(
      get('/dashboard/queues'),
    ))!.text();
    const row = /<tr data-queue="celery">([\s\S]*?)<\/tr>/.exec(page)![1]!;
    const cells = [...row.matchAll(/<td>\s*([\s\S]*?)\s*<\/td>/g)].map((m) => m[1]!.trim());
    expect(cells[0]).toBe('celery');
    expect(cells[1]).toBe('1');
    expect(cells[2]).toBe('0.8'); // 4 ended over five minutes
    expect(cells[3]).toMatch(/^[1-9]\d* s$/);
    // The SQLite registry stores pauses (and SQLite broadcasts through its file).
    expect(page).not.toContain('needs a broker with fanout');
    expect(page).toContain('value="pause"');
  });

  it('the queues, workers and overview pages follow their state live: a new depth arrives over SSE, nothing when nothing changed', async (test) => {
    const { app } = await openSqliteApp(test);
    const dashboard = createDashboard(app, { allowAnonymous: true, livePageIntervalMs: 100 });
    const opened = (await dashboard(get('/dashboard/queues')))!;
    expect(await opened.text()).toContain('data-live="/dashboard/live/page/queues"');
    const depthIn = (html: string) =>
      /<tr data-queue="celery">[\s\S]*?<td>\s*celery\s*<\/td>\s*<td>\s*(\d+)/.exec(html)?.[1];
    const abort = new AbortController();
    test.onTestFinished(() => abort.abort());
    const response = (await dashboard(
      get('/dashboard/live/page/queues', { signal: abort.signal }),
    ))!;
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = readSse(response.body!);
    const nextFragment = async () => {
      for (;;) {
        const { value, done } = await events.next();
        if (done) throw new Error('the stream ended');
        if (value.event === 'fragment')
          return JSON.parse(value.data!) as { target: string; html: string };
      }
    };
    const first = await nextFragment();
    expect(first.target).toBe('page-body');
    expect(depthIn(first.html)).toBe('0');
    // Ticks re-render every 100 ms, but only a change is sent: the next fragment is the new depth.
    await new Promise((resolve) => setTimeout(resolve, 350));
    await app.sendTask('emails.send', ['x']);
    const second = await nextFragment();
    expect(depthIn(second.html)).toBe('1');
    for (const path of ['/dashboard', '/dashboard/workers']) {
      const page = await (await dashboard(get(path)))!.text();
      expect(page, path).toMatch(/data-live="\/dashboard\/live\/page\/(?:workers)?"/);
    }
    expect((await dashboard(get('/dashboard/live/page/nothing')))!.status).toBe(404);
  });

  it('offers worker operations on PostgreSQL (broadcasting over LISTEN/NOTIFY) and stores a queue pause', async (test) => {
    await requireService(test, 'postgres');
    const pg = testSchema('dashboard');
    const app = new Celeriac({ broker: pg.url });
    test.onTestFinished(async () => {
      await app.close();
      await pg.drop();
    });
    const dashboard = createDashboard(app, { allowAnonymous: true });
    const workers = await (await dashboard(get('/dashboard/workers')))!.text();
    expect(workers).not.toContain('needs a broker with fanout');
    const page = await (await dashboard(get('/dashboard/queues')))!.text();
    expect(page).not.toContain('needs a broker with fanout');
    expect(page).toContain('value="pause"');
    const post = await dashboard(
      get('/dashboard/queues', {
        method: 'POST',
        headers: { cookie: 'celeriac_csrf=abcdefghijklmnopqrstuvwx' },
        body: 'csrf=abcdefghijklmnopqrstuvwx&queue=celery&action=pause&confirm=yes',
      }),
    );
    expect(post!.status).toBe(200);
    const registry = (await app.resultBackend()).workerRegistry!();
    expect(await registry.pausedQueues!()).toEqual(['celery']);
    expect(await (await dashboard(get('/dashboard/queues')))!.text()).toContain(
      'data-paused="stored"',
    );
  });

  it('terminate records a revocation with terminate for every worker, after a confirmation', async (test) => {
    const { app, backend } = await openSqliteApp(test, { resultExtended: true });
    await storeTasks(backend);
    const heard: Array<[string, boolean]> = [];
    const stop = await backend.onRevoke((id, terminate) => heard.push([id, terminate]));
    test.onTestFinished(stop);
    const dashboard = createDashboard(app, { allowAnonymous: true });
    const act = (extra: string) =>
      dashboard(
        get('/dashboard/actions', {
          method: 'POST',
          headers: { cookie: 'celeriac_csrf=abcdefghijklmnopqrstuvwx' },
          body: `csrf=abcdefghijklmnopqrstuvwx&action=terminate&id=task-3${extra}`,
        }),
      );
    expect(await (await act(''))!.text()).toMatch(/terminate\s*<strong>1<\/strong>\s*task/);
    expect(heard).toEqual([]);
    expect((await act('&confirm=yes'))!.status).toBe(303);
    await expect.poll(() => heard).toEqual([['task-3', true]]);
  });

  it('says plainly when the result backend cannot list tasks', async (test) => {
    const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
    test.onTestFinished(() => app.close());
    const errors: unknown[] = [];
    const response = (await createDashboard(app, {
      readOnly: true,
      onError: (e) => errors.push(e),
    })(get('/dashboard/tasks')))!;
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/cannot list tasks: use SQLite or Redis/);
  });
});
