/**
 * The Express adapter over real HTTP: task states as JSON, events streamed as they
 * happen (not buffered to the end), other routes left to the app, and a client that
 * hangs up ending the stream and its backend subscription. Bad input (a Host header no
 * URL can hold, TRACE) and a result backend that is down answer without a stack or a path.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import type { TaskView } from '../../src/web/index.js';
import { rawRequest, serveExpress } from './http-client.js';
import { readSse } from './sse-reader.js';
import { openSqliteApp } from './sqlite-app.js';

async function serve(test: TestContext, app: Celeriac): Promise<string> {
  return (await serveExpress(test, app)).base;
}

/** A plain JSON error of this type, with a message and nothing else. */
function plainError(type: string): unknown {
  return { error: { type, message: expect.stringMatching(/^[A-Z][^\n]*\.$/) as unknown } };
}

/** Nothing a stack trace or an error from a driver would bring: frames, file paths, hosts. */
function expectNoLeak(body: string): void {
  expect(body).not.toMatch(
    /\bat \S|\.[cm]?[jt]s\b|node_modules|\/work\/|[A-Za-z]:\\|127\.0\.0\.1|ECONNREFUSED|TypeError/,
  );
}

describe('celeriacExpress', () => {
  it('serves the JSON view and leaves other routes to the app', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const base = await serve(test, app);
    const id = randomUUID();
    await store(id, 'SUCCESS', { total: 3 });
    const response = await fetch(`${base}/tasks/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({ id, state: 'SUCCESS', result: { total: 3 } });
    expect(await (await fetch(`${base}/hello`)).text()).toBe('hello');
    expect((await fetch(`${base}/tasks/bad%20id`)).status).toBe(400);
    expect(await (await fetch(`${base}/nowhere`)).text()).toBe('app saw GET /nowhere');
  });

  it('streams each event as it happens, then ends the response', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const base = await serve(test, app);
    const id = randomUUID();
    const response = await fetch(`${base}/tasks/${id}/stream`);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = readSse(response.body!);
    const state = async () => (JSON.parse((await events.next()).value!.data!) as TaskView).state;
    // Each event arrives while the task is still running: nothing waits for the end.
    expect(await state()).toBe('PENDING');
    await store(id, 'PROGRESS', { current: 1, total: 3, percent: 33.3 });
    expect(await state()).toBe('PROGRESS');
    await store(id, 'SUCCESS', 'done');
    expect(await state()).toBe('SUCCESS');
    expect((await events.next()).done).toBe(true);
  });

  it('ends the stream and unsubscribes when the client hangs up', async (test) => {
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
    const base = await serve(test, app);
    const client = new AbortController();
    const response = await fetch(`${base}/tasks/${randomUUID()}/stream`, { signal: client.signal });
    await readSse(response.body!).next();
    client.abort();
    await vi.waitFor(() => expect(unsubscribed).toHaveBeenCalledTimes(1), { timeout: 3000 });
  });
});

describe('celeriacExpress with bad input', () => {
  it('leaves requests outside its routes to the app untouched, whatever their Host or method', async (test) => {
    const { app } = await openSqliteApp(test);
    const { port } = await serveExpress(test, app);
    const id = randomUUID();
    const hello = await rawRequest(port, 'GET /hello HTTP/1.1\r\nHost: bad host');
    expect([hello.status, hello.body]).toEqual([200, 'hello']);
    const elsewhere = await rawRequest(port, 'GET /nowhere?x=1 HTTP/1.1\r\nHost: [oops');
    expect([elsewhere.status, elsewhere.body]).toEqual([200, 'app saw GET /nowhere?x=1']);
    for (const path of ['/hello', `/tasks/${id}`, `/tasks/${id}/stream`]) {
      const trace = await rawRequest(port, `TRACE ${path} HTTP/1.1\r\nHost: 127.0.0.1`);
      expect([trace.status, trace.body], path).toEqual([200, `app saw TRACE ${path}`]);
    }
  });

  it('answers 400 with a plain JSON error, no stack, for a task request with a bad Host', async (test) => {
    const { app } = await openSqliteApp(test);
    const { port } = await serveExpress(test, app);
    const id = randomUUID();
    // "evil/x" is no URL's host either: taken as one, it would move the path the handler sees.
    for (const host of ['bad host', '[oops', 'evil/x', 'a:99999']) {
      const response = await rawRequest(port, `GET /tasks/${id} HTTP/1.1\r\nHost: ${host}`);
      expect(response.status, host).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(response.body), host).toEqual(plainError('BadRequest'));
      expectNoLeak(response.body);
    }
    const good = await rawRequest(port, `GET /tasks/${id} HTTP/1.1\r\nHost: shop.example:8080`);
    expect(good.status).toBe(200);
    expect(JSON.parse(good.body)).toMatchObject({ id, state: 'PENDING' });
  });

  it('answers a plain 500 JSON and logs the error when the result backend is down', async (test) => {
    // A real backend that is down: nothing listens on port 1.
    const app = new Celeriac({ broker: 'sqlite://:memory:', backend: 'redis://127.0.0.1:1/0' });
    test.onTestFinished(() => app.close());
    const logged: unknown[] = [];
    const { base } = await serveExpress(test, app, { onError: (error) => logged.push(error) });
    for (const path of [`/tasks/${randomUUID()}`, `/tasks/${randomUUID()}/stream`]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await response.text();
      expect(JSON.parse(body)).toEqual(plainError('InternalError'));
      expectNoLeak(body);
    }
    expect(logged).toHaveLength(2);
    expect(String(logged[0])).toMatch(/Could not connect to Redis/);
  });

  it('answers a plain 500 JSON and logs the error when authorize throws', async (test) => {
    const { app } = await openSqliteApp(test);
    const logged: unknown[] = [];
    const { base } = await serveExpress(test, app, {
      authorize: () => {
        throw new TypeError('session store unreachable at /srv/app/session.ts:12');
      },
      onError: (error) => logged.push(error),
    });
    const response = await fetch(`${base}/tasks/${randomUUID()}`);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual(plainError('InternalError'));
    expectNoLeak(body);
    expect(logged).toEqual([expect.any(TypeError)]);
  });
});
