/**
 * The framework-agnostic task handlers against a real SQLite result backend: the JSON
 * view, the routes it owns and refuses, and the server-sent event stream from the current
 * state to a final one, including heartbeats and a client that leaves.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createTaskHandler, sendAndRespond, type TaskView } from '../../src/web/index.js';
import { collectData, readSse } from './sse-reader.js';
import { openSqliteApp, sleep } from './sqlite-app.js';

const get = (path: string, init?: RequestInit) => new Request(`http://shop.test${path}`, init);

describe('GET <prefix>/:id', () => {
  it('answers PENDING with empty fields for a task the backend does not know', async (test) => {
    const { app } = await openSqliteApp(test);
    const id = randomUUID();
    const response = await createTaskHandler(app)(get(`/tasks/${id}`));
    expect(response?.status).toBe(200);
    expect(response?.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response?.headers.get('cache-control')).toBe('no-store');
    expect(await response?.json()).toEqual({
      id,
      state: 'PENDING',
      result: null,
      error: null,
      progress: null,
      dateDone: null,
      retry: null,
    });
  });

  it('answers the result and an ISO date once the task succeeded', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'SUCCESS', { receipt: 'ORD-1.pdf', total: 698 });
    const view = (await (await createTaskHandler(app)(get(`/tasks/${id}`)))?.json()) as TaskView;
    expect(view).toMatchObject({
      id,
      state: 'SUCCESS',
      result: { receipt: 'ORD-1.pdf', total: 698 },
      error: null,
      progress: null,
    });
    expect(view.dateDone).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('answers the error type and message of a failure, never its traceback', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    const error = {
      exc_type: 'CardDeclinedError',
      exc_message: ['Your card was declined.'],
      exc_module: 'builtins',
    };
    await store(id, 'FAILURE', error, 'Traceback: at /srv/secret/path.ts:12');
    const response = await createTaskHandler(app)(get(`/tasks/${id}`));
    const text = await response!.text();
    expect(JSON.parse(text)).toMatchObject({
      state: 'FAILURE',
      result: null,
      error: { type: 'CardDeclinedError', message: 'Your card was declined.' },
    });
    expect(text).not.toContain('secret');
  });

  it('answers the progress a task reported', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'PROGRESS', {
      current: 2,
      total: 4,
      percent: 50,
      step: 'rendering the receipt',
    });
    const view = (await (await createTaskHandler(app)(get(`/tasks/${id}`)))?.json()) as TaskView;
    expect(view).toMatchObject({
      state: 'PROGRESS',
      result: null,
      progress: { current: 2, total: 4, percent: 50, step: 'rendering the receipt' },
    });
  });

  it('hides what a worker records with STARTED (host name, pid)', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'STARTED', { pid: 4242, hostname: 'worker-7.internal' });
    const text = await (await createTaskHandler(app)(get(`/tasks/${id}`)))!.text();
    expect(JSON.parse(text)).toMatchObject({ state: 'STARTED', result: null });
    expect(text).not.toContain('worker-7');
  });

  it('honours another prefix', async (test) => {
    const { app } = await openSqliteApp(test);
    const handle = createTaskHandler(app, { prefix: '/api/jobs/' });
    expect((await handle(get(`/api/jobs/${randomUUID()}`)))?.status).toBe(200);
    expect(await handle(get(`/tasks/${randomUUID()}`))).toBeUndefined();
  });
});

describe('routes the handler owns and refuses', () => {
  it('answers undefined outside its prefix and for methods other than GET and HEAD', async (test) => {
    const { app } = await openSqliteApp(test);
    const handle = createTaskHandler(app);
    expect(await handle(get('/orders'))).toBeUndefined();
    expect(await handle(get('/tasks'))).toBeUndefined();
    expect(await handle(get('/tasksx/abc'))).toBeUndefined();
    expect(
      await handle(get(`/tasks/${randomUUID()}`, { method: 'POST', body: '{}' })),
    ).toBeUndefined();
  });

  it('answers 400 with a JSON error for ids that are not task ids', async (test) => {
    const { app } = await openSqliteApp(test);
    const handle = createTaskHandler(app);
    for (const bad of [
      '',
      '%ZZ',
      'a%20b',
      '..%2F..%2Fetc',
      'x'.repeat(129),
      '-leading-dash',
      "quote'd",
    ]) {
      const response = await handle(get(`/tasks/${bad}`));
      expect(response?.status, bad).toBe(400);
      expect(await response?.json()).toMatchObject({ error: { type: 'InvalidTaskId' } });
    }
    expect((await handle(get(`/tasks/${'x'.repeat(128)}`)))?.status).toBe(200);
    expect((await handle(get('/tasks/order-42:retry.1_a')))?.status).toBe(200);
  });

  it('answers 404 with a JSON error for unknown routes under its prefix', async (test) => {
    const { app } = await openSqliteApp(test);
    const handle = createTaskHandler(app);
    for (const path of [`/tasks/${randomUUID()}/nope`, `/tasks/${randomUUID()}/stream/more`]) {
      const response = await handle(get(path));
      expect(response?.status, path).toBe(404);
      expect(await response?.json()).toMatchObject({ error: { type: 'NotFound' } });
    }
  });

  it('answers 404 when authorize refuses, and its own Response when it gives one', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'SUCCESS', 1);
    const refuse = createTaskHandler(app, { authorize: () => false });
    expect((await refuse(get(`/tasks/${id}`)))?.status).toBe(404);
    const custom = createTaskHandler(app, {
      authorize: () => new Response('log in first', { status: 401 }),
    });
    expect((await custom(get(`/tasks/${id}/stream`)))?.status).toBe(401);
    const allow = createTaskHandler(app, { authorize: (_request, taskId) => taskId === id });
    expect((await allow(get(`/tasks/${id}`)))?.status).toBe(200);
  });
});

describe('GET <prefix>/:id/stream', () => {
  it('sends the current state first, then each change, and ends after the final state', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    const response = await createTaskHandler(app)(get(`/tasks/${id}/stream`));
    expect(response?.status).toBe(200);
    expect(response?.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response?.headers.get('cache-control')).toBe('no-store');
    const seen: TaskView[] = [];
    const events = collectData<TaskView>(response!.body!, (view) => seen.push(view));
    const next = async (state: string, result: Parameters<typeof store>[2] = null) => {
      await store(id, state, result);
      await vi.waitFor(() => expect(seen.at(-1)?.state).toBe(state), { timeout: 5000 });
    };
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    await next('STARTED', { pid: 1, hostname: 'h' });
    await next('PROGRESS', { current: 1, total: 2, percent: 50, step: 'half way' });
    await next('PROGRESS', { current: 2, total: 2, percent: 100, step: 'done' });
    await store(id, 'SUCCESS', { ok: true });
    const all = await events; // resolves only because the stream ends by itself
    expect(all.map((view) => view.state)).toEqual([
      'PENDING',
      'STARTED',
      'PROGRESS',
      'PROGRESS',
      'SUCCESS',
    ]);
    expect(all.map((view) => view.progress?.percent ?? null)).toEqual([null, null, 50, 100, null]);
    expect(all.at(-1)).toMatchObject({ id, result: { ok: true }, error: null });
  });

  it('numbers events and sets the reconnection delay on the first', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'RETRY', {
      exc_type: 'CardDeclinedError',
      exc_message: ['declined'],
      exc_module: 'x',
    });
    const response = await createTaskHandler(app, { retryMs: 1234 })(get(`/tasks/${id}/stream`));
    const events = readSse(response!.body!);
    const first = (await events.next()).value;
    expect(first).toMatchObject({ id: '1', retry: 1234 });
    expect(JSON.parse(first!.data!)).toMatchObject({
      state: 'RETRY',
      error: { type: 'CardDeclinedError', message: 'declined' },
    });
    await store(id, 'FAILURE', {
      exc_type: 'CardDeclinedError',
      exc_message: ['declined'],
      exc_module: 'x',
    });
    const second = (await events.next()).value;
    expect(second).toMatchObject({ id: '2' });
    expect(second?.retry).toBeUndefined();
    expect((await events.next()).done).toBe(true);
  });

  it('sends one event and ends when the task is already final', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'REVOKED', {
      exc_type: 'TaskRevokedError',
      exc_message: ['revoked'],
      exc_module: 'celery.exceptions',
    });
    const response = await createTaskHandler(app)(get(`/tasks/${id}/stream`));
    const all = await collectData<TaskView>(response!.body!);
    expect(all).toEqual([
      expect.objectContaining({
        state: 'REVOKED',
        error: { type: 'TaskRevokedError', message: 'revoked' },
      }),
    ]);
  });

  it('sends comment heartbeats while the task is quiet', async (test) => {
    const { app } = await openSqliteApp(test);
    const controller = new AbortController();
    test.onTestFinished(() => controller.abort());
    const response = await createTaskHandler(app, { heartbeatMs: 30 })(
      get(`/tasks/${randomUUID()}/stream`, { signal: controller.signal }),
    );
    const kinds: string[] = [];
    for await (const event of readSse(response!.body!)) {
      kinds.push(event.comment !== undefined ? `comment:${event.comment}` : 'data');
      if (kinds.length === 3) break;
    }
    expect(kinds).toEqual(['data', 'comment:heartbeat', 'comment:heartbeat']);
  });

  it('stops and unsubscribes from the backend when the client disconnects', async (test) => {
    const { app, backend, store } = await openSqliteApp(test);
    const unsubscribed = vi.fn();
    const subscribe = backend.subscribe.bind(backend);
    vi.spyOn(backend, 'subscribe').mockImplementation(async (taskId, listener) => {
      const unsubscribe = await subscribe(taskId, listener);
      return async () => {
        unsubscribed(taskId);
        await unsubscribe();
      };
    });
    const id = randomUUID();
    const controller = new AbortController();
    const response = await createTaskHandler(app)(
      get(`/tasks/${id}/stream`, { signal: controller.signal }),
    );
    const events = readSse(response!.body!);
    expect((await events.next()).value?.data).toContain('PENDING');
    controller.abort();
    await vi.waitFor(() => expect(unsubscribed).toHaveBeenCalledWith(id), { timeout: 2000 });
    // Nothing more is sent once the client left, even when the task moves on.
    await store(id, 'SUCCESS', 1);
    await sleep(100);
    expect((await events.next()).done).toBe(true);
  });

  it('unsubscribes as well when the reader cancels the body', async (test) => {
    const { app, backend } = await openSqliteApp(test);
    const unsubscribed = vi.fn();
    const subscribe = backend.subscribe.bind(backend);
    vi.spyOn(backend, 'subscribe').mockImplementation(async (taskId, listener) => {
      const unsubscribe = await subscribe(taskId, listener);
      return async () => {
        unsubscribed();
        await unsubscribe();
      };
    });
    const response = await createTaskHandler(app)(get(`/tasks/${randomUUID()}/stream`));
    const reader = response!.body!.getReader();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(unsubscribed).toHaveBeenCalledTimes(1), { timeout: 2000 });
  });
});

describe('sendAndRespond', () => {
  it('answers 202 with the id, a Location and the stream address', async () => {
    const response = await sendAndRespond(Promise.resolve({ id: 'abc-123' }), {
      prefix: '/jobs',
      body: { orderId: 'ORD-1' },
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe('/jobs/abc-123');
    expect(await response.json()).toEqual({
      orderId: 'ORD-1',
      id: 'abc-123',
      status: '/jobs/abc-123',
      stream: '/jobs/abc-123/stream',
    });
  });

  it('answers 503 without the broker error text when the send fails', async () => {
    const response = await sendAndRespond(
      Promise.reject(new Error('connect ECONNREFUSED redis://:hunter2@db')),
    );
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ error: { type: 'SendFailed' } });
    expect(text).not.toContain('hunter2');
  });
});
