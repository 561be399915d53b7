/**
 * Every web adapter over a real server of its framework (Express, Fastify, Hono on
 * @hono/node-server, NestJS on its Express platform, plain node:http): the task routes
 * answer JSON and stream events as they happen, a client that hangs up ends its stream, a
 * FetchHandler gets the POST body of its own routes (raw, or re-encoded after the
 * framework's parser took it), and the app's own routes keep theirs untouched.
 * Next.js route handlers are tested in next.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { FetchHandler } from '../../src/web/fetch-handler.js';
import type { TaskView } from '../../src/web/index.js';
import { FRAMEWORKS, serveWith } from './framework-servers.js';
import { readSse } from './sse-reader.js';
import { openSqliteApp } from './sqlite-app.js';

/** Answers `/echo/*` with what it received: method, path, query, content type and body. */
function echoHandler(): FetchHandler {
  const owns = (_method: string, pathname: string) => pathname.startsWith('/echo/');
  return Object.assign(
    async (request: Request) => {
      const url = new URL(request.url);
      if (!owns(request.method, url.pathname)) return undefined;
      return Response.json({
        method: request.method,
        path: url.pathname,
        search: url.search,
        type: request.headers.get('content-type'),
        body: await request.text(),
      });
    },
    { owns },
  );
}

describe.each(FRAMEWORKS)('the %s adapter', (framework) => {
  it('serves the task JSON view and leaves other routes to the app', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const base = await serveWith(test, framework, [app, echoHandler()]);
    const id = randomUUID();
    await store(id, 'SUCCESS', { total: 3 });
    const response = await fetch(`${base}/tasks/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({ id, state: 'SUCCESS', result: { total: 3 } });
    expect((await fetch(`${base}/tasks/bad%20id`)).status).toBe(400);
    expect(await (await fetch(`${base}/hello`)).text()).toBe('hello');
    const own = await fetch(`${base}/own`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kept: true }),
    });
    expect(await own.text()).toBe('own:{"kept":true}');
  });

  it('streams each task event as it happens, then ends the response', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const base = await serveWith(test, framework, [app]);
    const id = randomUUID();
    const response = await fetch(`${base}/tasks/${id}/stream`);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = readSse(response.body!);
    const state = async () => (JSON.parse((await events.next()).value!.data!) as TaskView).state;
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
    const base = await serveWith(test, framework, [app]);
    const client = new AbortController();
    const response = await fetch(`${base}/tasks/${randomUUID()}/stream`, { signal: client.signal });
    await readSse(response.body!).next();
    client.abort();
    await vi.waitFor(() => expect(unsubscribed).toHaveBeenCalledTimes(1), { timeout: 3000 });
  });

  it('hands a handler the body and query of its own POST, form or JSON', async (test) => {
    const base = await serveWith(test, framework, [echoHandler()]);
    const form = await fetch(`${base}/echo/act?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=abc&id=1&id=2',
    });
    expect(form.status).toBe(200);
    expect(await form.json()).toEqual({
      method: 'POST',
      path: '/echo/act',
      search: '?x=1',
      type: 'application/x-www-form-urlencoded',
      body: 'csrf=abc&id=1&id=2',
    });
    const json = await fetch(`${base}/echo/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"args":[1,2]}',
    });
    expect(JSON.parse(((await json.json()) as { body: string }).body)).toEqual({ args: [1, 2] });
  });
});
