/**
 * The limits on the event streams and on what the task routes take from the wire, over
 * real HTTP through the Express adapter: a stream ends after its lifetime with a
 * `reconnect` event (the browser reconnects by itself), open streams are capped (503 with
 * Retry-After beyond the cap, the slot given back on every end), bad task ids are refused
 * and nothing from the request is reflected in an answer.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createTaskHandler, type TaskView } from '../../src/web/index.js';
import { rawRequest, serveExpress } from './http-client.js';
import { readSse } from './sse-reader.js';
import { openSqliteApp } from './sqlite-app.js';

describe('stream lifetime', () => {
  it('ends a stream after its lifetime with a reconnect event carrying retry:', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const { base } = await serveExpress(test, app, { streamLifetimeMs: 300, retryMs: 700 });
    const id = randomUUID();
    await store(id, 'PROGRESS', { current: 1, total: 4, percent: 25 });
    const events = readSse((await fetch(`${base}/tasks/${id}/stream`)).body!);
    const first = (await events.next()).value;
    expect(first).toMatchObject({ id: '1', retry: 700 });
    expect((JSON.parse(first!.data!) as TaskView).state).toBe('PROGRESS');
    const last = (await events.next()).value;
    expect(last).toMatchObject({ event: 'reconnect', retry: 700 });
    expect(JSON.parse(last!.data!)).toEqual({ reconnectAfterMs: 700 });
    expect((await events.next()).done).toBe(true);

    // What EventSource then does: connect again, and get the current state first.
    await store(id, 'PROGRESS', { current: 2, total: 4, percent: 50 });
    const again = readSse((await fetch(`${base}/tasks/${id}/stream`)).body!);
    expect(JSON.parse((await again.next()).value!.data!)).toMatchObject({
      state: 'PROGRESS',
      progress: { percent: 50 },
    });
    await again.return();
  });

  it('gives the slot back when the lifetime ends', async (test) => {
    const { app } = await openSqliteApp(test);
    const handle = createTaskHandler(app, { streamLifetimeMs: 50 });
    const response = await handle(new Request(`http://shop.test/tasks/${randomUUID()}/stream`));
    expect(handle.openStreams).toBe(1);
    const kinds: (string | undefined)[] = [];
    for await (const event of readSse(response!.body!)) kinds.push(event.event ?? 'message');
    expect(kinds).toEqual(['message', 'reconnect']);
    expect(handle.openStreams).toBe(0);
  });
});

describe('open streams cap', () => {
  it('answers 503 with Retry-After beyond maxOpenStreams, and frees a slot when a stream ends', async (test) => {
    const { app, store } = await openSqliteApp(test);
    const { base } = await serveExpress(test, app, { maxOpenStreams: 2, retryMs: 3000 });
    const [a, b] = [randomUUID(), randomUUID()];
    const leaving = new AbortController();
    const streamA = readSse(
      (await fetch(`${base}/tasks/${a}/stream`, { signal: leaving.signal })).body!,
    );
    const streamB = readSse((await fetch(`${base}/tasks/${b}/stream`)).body!);
    await streamA.next();
    await streamB.next();

    const refused = await fetch(`${base}/tasks/${randomUUID()}/stream`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(await refused.json()).toMatchObject({ error: { type: 'TooManyStreams' } });
    // The JSON route is not capped.
    expect((await fetch(`${base}/tasks/${a}`)).status).toBe(200);

    // A client that leaves gives its slot back (once the server sees the socket close).
    leaving.abort();
    const c = randomUUID();
    const streamC = await vi.waitFor(
      async () => {
        const response = await fetch(`${base}/tasks/${c}/stream`);
        if (response.status !== 200) await response.body?.cancel();
        expect(response.status).toBe(200);
        return readSse(response.body!);
      },
      { timeout: 5000, interval: 50 },
    );
    await streamC.next();
    expect((await fetch(`${base}/tasks/${randomUUID()}/stream`)).status).toBe(503);

    // A stream that ends on a final state gives its slot back too.
    await store(b, 'SUCCESS', 1);
    for await (const event of streamB) void event;
    await vi.waitFor(
      async () => expect((await fetch(`${base}/tasks/${b}/stream`)).status).toBe(200),
      { timeout: 5000 },
    );
    await streamC.return();
  });
});

describe('input from the wire', () => {
  it('refuses ids that are not task ids and reflects none of the request in its answers', async (test) => {
    const { app } = await openSqliteApp(test);
    const { base, port } = await serveExpress(test, app);
    const probes = [
      ['/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E', 400],
      [`/tasks/${'a'.repeat(129)}`, 400],
      ['/tasks/%00', 400],
      ['/tasks/a%0D%0ASet-Cookie:x=1', 400],
      [`/tasks/${randomUUID()}/%3Cimg%20src=x%3E`, 404],
      [`/tasks/${randomUUID()}/stream/%3Cimg%3E`, 404],
    ] as const;
    for (const [path, status] of probes) {
      const response = await fetch(`${base}${path}`, {
        headers: { 'Last-Event-ID': '<script>x</script>' },
      });
      expect(response.status, path).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('set-cookie')).toBeNull();
      const body = await response.text();
      expect(body, path).not.toMatch(/<|>|script|img|alert|Set-Cookie|aaaaaaaa/i);
    }
    // Over a raw socket, too: a path no browser would send.
    const raw = await rawRequest(
      port,
      'GET /tasks/"><svg/onload=alert(1)> HTTP/1.1\r\nHost: 127.0.0.1',
    );
    expect(raw.status).toBe(404);
    expect(raw.body).not.toMatch(/svg|onload/);
  });
});
