/**
 * The Express adapter over real HTTP: task states as JSON, events streamed as they
 * happen (not buffered to the end), other routes left to the app, and a client that
 * hangs up ending the stream and its backend subscription.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it, vi } from 'vitest';
import type { TestContext } from 'vitest';
import type { Celeriac } from '../../src/index.js';
import { celeriacExpress } from '../../src/web/express.js';
import type { TaskView } from '../../src/web/index.js';
import { readSse } from './sse-reader.js';
import { openSqliteApp } from './sqlite-app.js';

async function serve(test: TestContext, app: Celeriac): Promise<string> {
  const server = express();
  server.use(celeriacExpress(app, { prefix: '/tasks' }));
  server.get('/hello', (_req, res) => void res.send('hello'));
  const listening = server.listen(0);
  await new Promise<void>((resolve) => listening.once('listening', resolve));
  test.onTestFinished(async () => {
    listening.closeAllConnections();
    await new Promise((resolve) => listening.close(resolve));
  });
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
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
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
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
