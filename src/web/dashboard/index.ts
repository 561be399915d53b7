/**
 * `celeriac/dashboard`: the dashboard as one web-standard handler (`Request` → `Response`,
 * `undefined` outside its prefix), mounted by the same adapters as the task routes.
 * Server-rendered pages over the result backend's task listing, the broker's queue
 * lengths, the worker registry and the beat store; actions (retry, revoke, delete, one by
 * one or every match of a filter, after a confirmation that says how many) by POST with
 * a CSRF token; live fragments over SSE; `/metrics` in Prometheus text.
 * Safe by default: it refuses to be created without `authorize`, unless `readOnly` or
 * `allowAnonymous` says otherwise. It never shows an error's text or stack: errors go to
 * `onError`, the page says something plain.
 */
import type { WorkerFlow } from '../../flow/app-flow.js';
import { flowPage } from './flow-page.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ResultBackend } from '../../backends/backend.js';
import type { Broker } from '../../brokers/broker.js';
import { TaskQueryError, type TaskListing } from '../../backends/task-listing.js';
import type { ApplyOptions } from '../../app/task-options.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';
import type { FetchHandler } from '../fetch-handler.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.js';
import { esc, html, layout, PAGE_BODY_ID, securityHeaders, type Html } from './html.js';
import { readHistory, readTree, timelineView, treeView } from './task-detail.js';
import { workerEventsFeed } from './event-feed.js';
import {
  fragmentStream,
  listingFeed,
  mergeFeeds,
  taskFeed,
  tickFeed,
  type DashboardEventFeed,
} from './live.js';
import { renderMetrics } from './metrics.js';
import {
  confirmPage,
  overviewPage,
  schedulesPage,
  STATES,
  stateBadge,
  taskPage,
  taskRows,
  tasksPage,
  unknownTaskPage,
  type MaskField,
  type Masker,
} from './pages.js';
import { filtersFrom } from './query.js';
import { deadLettersPage, queuesPage, workersPage } from './operate.js';
import { operationRoutes } from './operate-routes.js';

export type { DashboardEvent, DashboardEventFeed } from './live.js';
export type { MaskField } from './pages.js';

/** What the dashboard needs of an app (a `Celeriac` fits). */
export interface DashboardApp {
  resultBackend(): Promise<ResultBackend>;
  broker(): Promise<Broker>;
  sendTask(name: string, args?: unknown[], options?: ApplyOptions): Promise<{ id: string }>;
  taskNames(): string[];
  getTask(name: string): { readonly options: { readonly queue?: string | undefined } } | undefined;
  readonly config: { readonly defaultQueue: string };
  /** Each worker's flow control, for the /flow page (`Celeriac#flow`). */
  readonly flow?: { workers(options?: { timeout?: number }): Promise<WorkerFlow[]> };
}

export interface DashboardOptions {
  /** Path the dashboard lives under. @default '/dashboard' */
  prefix?: string | undefined;
  /**
   * Decides who may use the dashboard, for every request: `true` allows, `false` answers
   * 403, a Response is sent as is. Required unless `readOnly` or `allowAnonymous`.
   * @example authorize: (request) => isAdmin(sessionOf(request))
   */
  authorize?: ((request: Request) => boolean | Response | Promise<boolean | Response>) | undefined;
  /** Pages only: every action is refused. Without `authorize`, anyone who reaches it reads it. @default false */
  readOnly?: boolean | undefined;
  /** Anyone who reaches the dashboard may act. For local use only. @default false */
  allowAnonymous?: boolean | undefined;
  /**
   * Shown instead of a task's args, kwargs, result or traceback (e.g. to hide e-mail
   * addresses or tokens). Called for every value shown.
   * @example mask: (value, { field }) => (field === 'kwargs' ? '[hidden]' : value)
   */
  mask?: ((value: unknown, where: { field: MaskField; task: ResultMeta }) => unknown) | undefined;
  /** Queues shown on the overview and queues pages. @default the app's default queue and every task's queue */
  queues?: string[] | undefined;
  /** Where live updates come from. @default the result backend's listing, read once a second, and the workers' events */
  events?: DashboardEventFeed | undefined;
  /** How often the overview, queues and workers pages re-render while open, at the least. @default 3000 */
  livePageIntervalMs?: number | undefined;
  /** Most tasks one bulk action touches (the confirmation says when a filter matches more). @default 10000 */
  maxBulk?: number | undefined;
  /** Told of each error behind a plain error page. @default console.error */
  onError?: ((error: unknown, request: Request) => void) | undefined;
}

export interface Dashboard extends FetchHandler {
  readonly onError: (error: unknown, request: Request) => void;
}

/** Raised when a dashboard would let anyone act: give `authorize`, or choose `readOnly` or `allowAnonymous`. */
export class DashboardAuthorizationError extends Error {
  override readonly name = 'DashboardAuthorizationError';
}

const CSRF_COOKIE = 'celeriac_csrf';

function eventStream(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, {
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    },
  });
}
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * @example server.use(celeriacExpress(createDashboard(app, { authorize: (r) => isAdmin(r) })));
 */
export function createDashboard(app: DashboardApp, options: DashboardOptions = {}): Dashboard {
  if (!options.authorize && !options.readOnly && !options.allowAnonymous)
    throw new DashboardAuthorizationError(
      'createDashboard needs an authorize(request) hook; pass readOnly: true for a dashboard without actions, or allowAnonymous: true for local use only.',
    );
  const prefix = (options.prefix ?? '/dashboard').replace(/\/+$/, '');
  const readOnly = options.readOnly ?? false;
  const onError =
    options.onError ?? ((error: unknown) => console.error('celeriac dashboard:', error));
  const maxBulk = options.maxBulk ?? 10_000;
  const userMask = options.mask;
  const mask: Masker = (task, field) => {
    const value =
      field === 'result' ? task.result : field === 'traceback' ? task.traceback : task[field];
    return userMask ? userMask(value, { field, task }) : value;
  };

  const listing = async (): Promise<TaskListing> => {
    const backend = await app.resultBackend();
    if (!backend.taskListing)
      throw new TaskQueryError(
        `This result backend (${backend.kind}) cannot list tasks: use SQLite or Redis for the dashboard's task pages.`,
      );
    return backend.taskListing();
  };
  // Stored changes, read once a second, and workers' events as they come: an event tells
  // of a change first; the listing catches what no worker reports (e.g. no -E).
  const feed =
    options.events ??
    mergeFeeds(
      listingFeed(listing),
      workerEventsFeed(() => app.broker()),
    );
  const livePageIntervalMs = options.livePageIntervalMs ?? 3000;

  const owns = (method: string, pathname: string) =>
    (method === 'GET' || method === 'HEAD' || method === 'POST') &&
    (pathname === prefix || pathname.startsWith(`${prefix}/`));

  const queues = () =>
    options.queues ?? [
      ...new Set([
        app.config.defaultQueue,
        ...app
          .taskNames()
          .map((n) => app.getTask(n)?.options.queue)
          .filter((q): q is string => !!q),
      ]),
    ];

  const queueDepths = async (): Promise<Array<[string, number | null]>> => {
    const broker = await app.broker();
    return Promise.all(
      queues().map(async (q): Promise<[string, number | null]> => [
        q,
        await broker.queueLength(q).catch(() => null),
      ]),
    );
  };

  const page = (
    request: Request,
    csrf: string,
    current: string,
    title: string,
    body: Html,
    live?: string,
  ) => {
    const headers = securityHeaders('text/html; charset=utf-8');
    if (!cookie(request, CSRF_COOKIE))
      headers.append(
        'Set-Cookie',
        `${CSRF_COOKIE}=${csrf}; Path=${prefix || '/'}; HttpOnly; SameSite=Strict`,
      );
    return new Response(layout(prefix, current, title, body, { live, readOnly }), {
      status: 200,
      headers,
    });
  };
  const plain = (status: number, text: string) =>
    new Response(text, { status, headers: securityHeaders('text/plain; charset=utf-8') });
  const redirect = (to: string) =>
    new Response(null, { status: 303, headers: { Location: to, 'Cache-Control': 'no-store' } });

  const renderRows = async (search: URLSearchParams) => {
    const filters = filtersFrom(search);
    const result = await (await listing()).list({ ...filters, limit: 50 });
    return { filters, result, rows: taskRows(prefix, result.tasks, mask, !readOnly) };
  };

  const get = async (request: Request, path: string, url: URL, csrf: string): Promise<Response> => {
    if (path === '/assets/dashboard.css') return asset(DASHBOARD_CSS, 'text/css; charset=utf-8');
    if (path === '/assets/dashboard.js')
      return asset(DASHBOARD_JS, 'text/javascript; charset=utf-8');
    if (path === '/metrics') {
      const text = await renderMetrics(await listing(), await queueDepths(), await onlineWorkers());
      return new Response(text, {
        headers: {
          'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
          'Cache-Control': 'no-store',
        },
      });
    }
    const livePage = LIVE_PAGES.get(path === '' ? '/' : path);
    if (livePage)
      return page(
        request,
        csrf,
        livePage.current,
        livePage.title,
        await livePage.body(csrf),
        `${prefix}/live/page${livePage.current || '/'}`,
      );
    if (path.startsWith('/live/page/')) {
      const shown = LIVE_PAGES.get(path.slice('/live/page'.length));
      if (!shown) return plain(404, 'No such live page.');
      const body = fragmentStream(
        mergeFeeds(feed, tickFeed(livePageIntervalMs)),
        async () => [{ target: PAGE_BODY_ID, html: (await shown.body(csrf)).html }],
        request.signal,
      );
      return eventStream(body);
    }
    if (path === '/tasks') {
      let body: Html;
      try {
        const { filters, result, rows } = await renderRows(url.searchParams);
        body = tasksPage(prefix, filters, rows, result.next, {
          csrf,
          readOnly,
          names: app.taskNames(),
        });
      } catch (error) {
        if (!(error instanceof TaskQueryError)) throw error;
        const filters = { fieldTexts: [] };
        body = tasksPage(prefix, filters, taskRows(prefix, [], mask, !readOnly), undefined, {
          csrf,
          readOnly,
          error: error.message,
          names: app.taskNames(),
        });
      }
      const live = url.searchParams.has('cursor') ? undefined : `${prefix}/live/tasks${url.search}`;
      return page(request, csrf, '/tasks', 'Tasks', body, live);
    }
    if (path === '/live/tasks') {
      const body = fragmentStream(
        feed,
        async () => [{ target: 'task-rows', html: (await renderRows(url.searchParams)).rows.html }],
        request.signal,
      );
      return eventStream(body);
    }
    if (path.startsWith('/live/task/')) {
      const id = decodeURIComponentSafe(path.slice('/live/task/'.length));
      if (!id || !TASK_ID.test(id)) return plain(404, 'No such task.');
      const backend = await app.resultBackend();
      const feed = taskFeed((listener) => backend.subscribe(id, (meta) => listener(meta.status)));
      const body = fragmentStream(
        feed,
        async () => {
          const meta = await backend.get(id);
          if (!meta) return [];
          return [
            { target: 'task-state', html: stateBadge(meta.status).html },
            {
              target: 'task-result',
              html: esc(JSON.stringify(mask(meta, 'result'), null, 2) ?? 'null'),
            },
          ];
        },
        request.signal,
      );
      return eventStream(body);
    }
    if (path.startsWith('/tasks/')) {
      const id = decodeURIComponentSafe(path.slice('/tasks/'.length));
      if (!id || !TASK_ID.test(id)) return plain(404, 'No such task.');
      const backend = await app.resultBackend();
      const [meta, history] = await Promise.all([backend.get(id), readHistory(backend, id)]);
      if (!meta)
        return page(
          request,
          csrf,
          '/tasks',
          'Task',
          html`${unknownTaskPage(prefix, id, { csrf, readOnly })}${
            history.events.length > 0 ? timelineView(undefined, history.events) : ''
          }`,
        );
      const tree = await readTree(meta, (child) => backend.get(child));
      const detail = html`${timelineView(meta, history.events, history.note)}${tree ? treeView(prefix, tree, id) : ''}`;
      return page(
        request,
        csrf,
        '/tasks',
        `Task ${meta.name ?? id}`,
        // A masked page never shows the stored args, not even to edit: empty retries with them.
        taskPage(prefix, meta, mask, {
          csrf,
          readOnly,
          masked: userMask !== undefined,
          detail,
        }),
        `${prefix}/live/task/${encodeURIComponent(id)}`,
      );
    }
    if (path === '/flow') {
      let body: Html;
      try {
        body = flowPage((await app.flow?.workers({ timeout: 1 })) ?? []);
      } catch {
        body = flowPage(
          [],
          'The workers could not be asked (remote control needs Redis or RabbitMQ).',
        );
      }
      return page(request, csrf, '/flow', 'Flow', body);
    }
    if (path === '/dead-letters') {
      const broker = await app.broker();
      const letters = await Promise.all(
        queues().map(async (queue) => ({
          queue,
          letters: broker.listDeadLetters ? await broker.listDeadLetters(queue, 100) : undefined,
        })),
      );
      return page(
        request,
        csrf,
        '/dead-letters',
        'Dead letters',
        deadLettersPage(prefix, letters, { csrf, readOnly }),
      );
    }
    if (path === '/schedules') {
      const store = (await app.resultBackend()).beatStore?.();
      const entries = store ? await withStore(store, (s) => s.list()) : undefined;
      return page(
        request,
        csrf,
        '/schedules',
        'Schedules',
        schedulesPage(prefix, entries, { csrf, readOnly }),
      );
    }
    return plain(404, 'No such dashboard page.');
  };

  const onlineWorkers = async () => {
    const registry = (await app.resultBackend()).workerRegistry?.();
    if (!registry) return [];
    try {
      return await registry.online(Date.now());
    } finally {
      await registry.close();
    }
  };

  const overview = async (): Promise<Html> => {
    const list = await listing();
    const hour = 3_600_000;
    const end = Math.ceil(Date.now() / hour) * hour;
    const hours = Array.from({ length: 24 }, (_, i) => {
      const from = end - (24 - i) * hour;
      return { from, label: new Date(from).toISOString().slice(11, 16), ok: 0, bad: 0 };
    });
    const bucketAt = (at: number) => hours[Math.floor((at - (end - 24 * hour)) / hour)];
    let counts: Array<[string, number]>;
    let source: string;
    const activity = list.activity ? await list.activity(end - 24 * hour) : undefined;
    // Counters exist once anything was counted (resultExtended on); else sample.
    const counted =
      activity !== undefined &&
      (activity.length > 0 || ((await list.totals?.())?.counts.length ?? 0) > 0);
    if (activity && counted) {
      // Stored counters: every store counted in the same write as its meta.
      for (const row of activity) {
        const bucket = bucketAt(row.minute);
        if (!bucket) continue;
        if (row.state === 'SUCCESS') bucket.ok += row.count;
        else if (row.state === 'FAILURE') bucket.bad += row.count;
      }
      counts = (
        await Promise.all(
          STATES.map(async (status): Promise<[string, number]> => [
            status,
            await list.count({ states: [status] }),
          ]),
        )
      ).filter(([, n]) => n > 0);
      source = 'from the stored counters';
    } else {
      // A listing without counters: the newest 5,000 stored tasks stand for the rest.
      const sample: ResultMeta[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 5; i++) {
        const got = await list.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
        sample.push(...got.tasks);
        if (!got.next) break;
        cursor = got.next;
      }
      counts = STATES.map((status): [string, number] => [
        status,
        sample.filter((t) => t.status === status).length,
      ]).filter(([, n]) => n > 0);
      for (const t of sample) {
        if (!t.date_done) continue;
        const bucket = bucketAt(Date.parse(zoned(t.date_done)));
        if (!bucket) continue;
        if (t.status === 'SUCCESS') bucket.ok++;
        else if (t.status === 'FAILURE') bucket.bad++;
      }
      source = `from the ${sample.length} most recent stored tasks`;
    }
    return overviewPage(prefix, {
      counts,
      source,
      hours,
      queues: await queueDepths(),
      workers: (await onlineWorkers()).length,
    });
  };

  /** The worker registry's stored pauses, or undefined where the registry keeps none. */
  const pausedQueues = async (): Promise<string[] | undefined> => {
    const registry = (await app.resultBackend()).workerRegistry?.();
    if (!registry) return undefined;
    try {
      return registry.pausedQueues ? await registry.pausedQueues() : undefined;
    } finally {
      await registry.close();
    }
  };
  const setQueuePaused = async (queue: string, paused: boolean): Promise<boolean> => {
    const registry = (await app.resultBackend()).workerRegistry?.();
    if (!registry) return false;
    try {
      if (!registry.setQueuePaused) return false;
      await registry.setQueuePaused(queue, paused);
      return true;
    } finally {
      await registry.close();
    }
  };

  const operations = operationRoutes({
    broker: () => app.broker(),
    prefix,
    readOnly,
    queues,
    queueDepths,
    onlineWorkers,
    pausedQueues,
    setQueuePaused,
    listing,
    page,
    plain,
  });

  /**
   * Pages whose whole body follows the stored state while open: re-rendered on every
   * change the feed tells and at least every `livePageIntervalMs` (heartbeats, queue
   * depths and counters change with no task event to tell of it).
   */
  const LIVE_PAGES = new Map<
    string,
    { current: string; title: string; body: (csrf: string) => Promise<Html> }
  >([
    ['/', { current: '', title: 'Overview', body: () => overview() }],
    [
      '/queues',
      {
        current: '/queues',
        title: 'Queues',
        body: async (csrf) => {
          const workers = await onlineWorkers();
          return queuesPage(prefix, await operations.queueRows(workers), workers.length, {
            ...(await operations.controlState(csrf)),
            storedPause: (await pausedQueues().catch(() => undefined)) !== undefined,
          });
        },
      },
    ],
    [
      '/workers',
      {
        current: '/workers',
        title: 'Workers',
        body: async (csrf) =>
          workersPage(
            prefix,
            await onlineWorkers(),
            Date.now(),
            await operations.controlState(csrf),
          ),
      },
    ],
  ]);

  const post = async (
    request: Request,
    path: string,
    form: URLSearchParams,
    csrf: string,
  ): Promise<Response> => {
    if (path === '/actions') return act(request, form, csrf);
    const operated = await operations.post(request, path, form, csrf);
    if (operated) return operated;
    if (path === '/schedules') {
      const store = (await app.resultBackend()).beatStore?.();
      if (!store) return plain(404, 'This result backend keeps no beat schedules.');
      const name = form.get('entry') ?? '';
      const action = form.get('action');
      const ok = await withStore(store, async (s) => {
        const now = Date.now();
        if (action === 'enable' || action === 'disable')
          return s.setEnabled(name, action === 'enable', now);
        if (action === 'run') return s.requestRunNow(name, now);
        if (action === 'edit') {
          const entry = await s.get(name);
          if (!entry || entry.source !== 'store') return false;
          const args = parseJson(form.get('args'), Array.isArray) as JsonValue[];
          const schedule = parseJson(
            form.get('schedule'),
            (v) => !!v && typeof v === 'object' && !Array.isArray(v),
          ) as typeof entry.schedule;
          await s.upsert({ ...entry, args, schedule }, now);
          return true;
        }
        return false;
      });
      if (!ok) return plain(404, `No schedule entry "${name}" can take that action.`);
      return redirect(`${prefix}/schedules`);
    }
    return plain(404, 'No such action.');
  };

  const act = async (request: Request, form: URLSearchParams, csrf: string): Promise<Response> => {
    const action = form.get('action') ?? '';
    const all = action.endsWith('-all');
    const verb = all ? action.slice(0, -4) : action;
    if (!['retry', 'revoke', 'terminate', 'delete'].includes(verb))
      return plain(400, 'Unknown action.');
    let ids: string[];
    let capped = false;
    const filter = form.get('filter') ?? '';
    if (all) {
      const filters = filtersFrom(new URLSearchParams(filter.replace(/^\?/, '')));
      delete filters.cursor;
      const list = await listing();
      ids = [];
      let cursor: string | undefined;
      do {
        const got = await list.list({ ...filters, limit: 1000, ...(cursor ? { cursor } : {}) });
        ids.push(...got.tasks.map((t) => t.task_id));
        cursor = got.next;
      } while (cursor && ids.length < maxBulk);
      capped = ids.length > maxBulk || cursor !== undefined;
      ids = ids.slice(0, maxBulk);
    } else {
      ids = form.getAll('id').filter((id) => TASK_ID.test(id));
      if (ids.length === 0) return plain(400, 'Select at least one task.');
    }
    if (form.get('confirm') !== 'yes') {
      const fields: Array<[string, string]> = all
        ? [['filter', filter]]
        : ids.map((id) => ['id', id]);
      const args = form.get('args');
      if (args !== null) fields.push(['args', args]);
      return page(
        request,
        csrf,
        '/tasks',
        'Confirm',
        confirmPage(prefix, action, ids.length, fields, csrf, capped),
      );
    }
    const backend = await app.resultBackend();
    if (verb === 'revoke') await backend.revoke(ids);
    // Every worker hears revocations from the backend; the one running the task stops it.
    else if (verb === 'terminate') await backend.revoke(ids, { terminate: true });
    else if (verb === 'delete') await backend.forget(ids);
    else {
      const edited = form.get('args');
      const args =
        edited !== null && edited.trim() !== '' && !all && ids.length === 1
          ? (parseJson(edited, Array.isArray) as unknown[])
          : undefined;
      for (const id of ids) {
        const meta = await backend.get(id);
        if (!meta || typeof meta.name !== 'string') continue;
        await app.sendTask(meta.name, args ?? (Array.isArray(meta.args) ? meta.args : []), {
          ...(meta.kwargs ? { kwargs: meta.kwargs } : {}),
          ...(meta.queue ? { queue: meta.queue } : {}),
          parentId: id,
        });
      }
    }
    return redirect(`${prefix}/tasks${all ? filter : ''}`);
  };

  const answer = async (request: Request): Promise<Response | undefined> => {
    const url = new URL(request.url);
    if (!owns(request.method, url.pathname)) return undefined;
    const path = url.pathname.slice(prefix.length);
    if (options.authorize) {
      const verdict = await options.authorize(request);
      if (verdict instanceof Response) return verdict;
      if (!verdict) return plain(403, 'You may not use this dashboard.');
    }
    const csrf = cookie(request, CSRF_COOKIE) ?? randomBytes(18).toString('base64url');
    if (request.method !== 'POST') return get(request, path, url, csrf);
    if (readOnly) return plain(403, 'This dashboard is read-only.');
    const form = new URLSearchParams(await request.text());
    const sent = form.get('csrf') ?? '';
    const expected = cookie(request, CSRF_COOKIE) ?? '';
    if (
      !expected ||
      sent.length !== expected.length ||
      !timingSafeEqual(Buffer.from(sent), Buffer.from(expected))
    )
      return plain(
        403,
        'The form is stale or came from elsewhere (CSRF check failed): reload the page and try again.',
      );
    try {
      return await post(request, path, form, csrf);
    } catch (error) {
      if (error instanceof TaskQueryError || error instanceof SyntaxError)
        return plain(400, error.message);
      throw error;
    }
  };

  const handle = async (request: Request): Promise<Response | undefined> => {
    try {
      return await answer(request);
    } catch (error) {
      onError(error, request);
      if (error instanceof TaskQueryError) return plain(501, error.message);
      return plain(500, 'The dashboard could not read what it needs; try again shortly.');
    }
  };
  return Object.defineProperties(handle, {
    owns: { value: owns },
    onError: { value: onError },
  }) as Dashboard;
}

function zoned(date: string): string {
  return /[zZ]|[+-]\d\d:?\d\d$/.test(date) ? date : `${date}Z`;
}

function asset(text: string, type: string): Response {
  const headers = securityHeaders(type);
  headers.set('Cache-Control', 'public, max-age=3600');
  return new Response(text, { headers });
}

function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) {
      const text = value.join('=');
      return /^[A-Za-z0-9_-]{16,64}$/.test(text) ? text : undefined;
    }
  }
  return undefined;
}

function parseJson(text: string | null, check: (value: unknown) => boolean): unknown {
  const value: unknown = JSON.parse(text ?? '');
  if (!check(value)) throw new SyntaxError('The edited value is not of the expected JSON shape.');
  return value;
}

function decodeURIComponentSafe(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

async function withStore<S extends { open(): Promise<void>; close(): Promise<void> }, T>(
  store: S,
  run: (store: S) => Promise<T>,
): Promise<T> {
  await store.open();
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}
