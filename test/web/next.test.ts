/**
 * The Next.js adapter's route functions, called as Next's App Router calls a route
 * handler: with a real web Request, answering a Response. Not under a running `next`
 * server: Next's route handlers are web-standard, so the functions are the whole adapter,
 * and a `next dev` build costs more than this suite on a 2-core machine.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
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
