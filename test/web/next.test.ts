/**
 * The Next.js adapter's route functions, called as Next's App Router calls a route
 * handler: with a real web Request, answering a Response. The same routes under a running
 * `next dev` server are in next-server.test.ts.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NextRequest } from 'next/server.js';
import { describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/web/dashboard/index.js';
import { celeriacNext } from '../../src/web/next.js';
import type { TaskView } from '../../src/web/index.js';
import { readSse } from './sse-reader.js';
import { openSqliteApp } from './sqlite-app.js';

describe('celeriacNext', () => {
  it('answers GET and HEAD of the task routes, and 404 outside them', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const { GET, HEAD } = celeriacNext(app, { prefix: '/api/tasks' });
    const id = randomUUID();
    await store(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['bad'] }, 'Traceback');
    const response = await GET(new Request(`http://shop.example/api/tasks/${id}`));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, state: 'FAILURE' });
    const head = await HEAD(new Request(`http://shop.example/api/tasks/${id}`, { method: 'HEAD' }));
    expect([head.status, await head.text()]).toEqual([200, '']);
    const elsewhere = await GET(new Request('http://shop.example/api/other'));
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toEqual({
      error: { type: 'NotFound', message: 'No such route.' },
    });
  });

  it('streams events from GET until the task ends', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const { GET } = celeriacNext(app, { prefix: '/api/tasks' });
    const id = randomUUID();
    const response = await GET(new Request(`http://shop.example/api/tasks/${id}/stream`));
    const events = readSse(response.body!);
    const state = async () => (JSON.parse((await events.next()).value!.data!) as TaskView).state;
    expect(await state()).toBe('PENDING');
    await store(id, 'SUCCESS', 1);
    expect(await state()).toBe('SUCCESS');
    expect((await events.next()).done).toBe(true);
  });

  it('hands a FetchHandler the body of a POST', async () => {
    const owns = (method: string, pathname: string) => method === 'POST' && pathname === '/act';
    const handler = Object.assign(
      async (request: Request) =>
        owns(request.method, new URL(request.url).pathname)
          ? new Response(await request.text())
          : undefined,
      { owns },
    );
    const { POST } = celeriacNext(handler);
    const response = await POST(new Request('http://x/act', { method: 'POST', body: 'a=1' }));
    expect(await response.text()).toBe('a=1');
  });
});

/**
 * The dashboard's Next.js routes served by a real HTTP server as Next serves a route
 * handler: each request becomes Next's own `NextRequest` (from `next/server`) handed to the
 * exported GET or POST, and the Response goes back over the socket. Not `next dev` or
 * `next start` (a build costs more than this suite on a 2-core machine): the route file's
 * exports are what Next calls, with the request class it calls them with.
 */
describe('celeriacNext with the dashboard behind a real HTTP server', () => {
  it('serves pages and takes a confirmed action with its CSRF cookie over HTTP', async (test) => {
    const { app, store, backend } = await openSqliteApp(test);
    const id = randomUUID();
    await store(id, 'SUCCESS', 1);
    const routes = celeriacNext(createDashboard(app, { allowAnonymous: true }));
    const server = http.createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const headers = new Headers();
        for (const [key, value] of Object.entries(req.headers))
          if (typeof value === 'string') headers.set(key, value);
        const request = new NextRequest(`http://${req.headers.host}${req.url}`, {
          method: req.method ?? 'GET',
          headers,
          ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
        });
        const route = req.method === 'POST' ? routes.POST : routes.GET;
        const response = await route(request);
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(Buffer.from(await response.arrayBuffer()));
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    test.onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const page = await fetch(`${base}/dashboard/tasks/${id}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const body = await page.text();
    expect(body).toContain(id);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)![1]!;
    const form = (extra: string) => ({
      method: 'POST',
      redirect: 'manual' as const,
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf}&action=delete&id=${id}${extra}`,
    });
    const confirm = await fetch(`${base}/dashboard/actions`, form(''));
    expect(await confirm.text()).toMatch(/delete\s*<strong>1<\/strong>\s*task/);
    expect(await backend.get(id)).toBeDefined();
    const done = await fetch(`${base}/dashboard/actions`, form('&confirm=yes'));
    expect(done.status).toBe(303);
    expect(await backend.get(id)).toBeUndefined();
    const forged = await fetch(`${base}/dashboard/actions`, {
      ...form('&confirm=yes'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
  });
});
