/**
 * The Express adapter: turns an Express request into a web-standard Request for the task
 * handler and writes its Response back, flushing each server-sent event at once. It must
 * stay a thin shim: no routing or behaviour of its own, and only a type import of express
 * (an optional peer), so importing celeriac never requires express. It forwards no request
 * body: the task routes are GET only, and reading the body here would steal it from the
 * app's own routes.
 */
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { createTaskHandler, type TaskHandlerOptions, type TaskReader } from './handler.js';

/**
 * Middleware serving `GET <prefix>/:id` and `GET <prefix>/:id/stream`. Mount it without a
 * path: the prefix is matched against the full URL.
 * @example server.use(celeriacExpress(app, { prefix: '/tasks' }));
 */
export function celeriacExpress(app: TaskReader, options: TaskHandlerOptions = {}): RequestHandler {
  const handle = createTaskHandler(app, options);
  return (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    const aborted = new AbortController();
    // 'close' also fires after a normal end; only a close before the end means the client left.
    res.once('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    handle(toRequest(req, aborted.signal))
      .then((response) => (response ? writeResponse(response, res) : next()))
      .catch(next);
  };
}

/** Writes a web-standard Response to an Express (or plain Node) response, streaming its body. */
export async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);
  if (!response.body) {
    res.end();
    return;
  }
  // Headers go out now so an event stream opens in the browser before its first event.
  res.flushHeaders();
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  // Gone already, 'close' will not fire again: cancel now, or the body would never end.
  if (res.destroyed) cancel();
  else res.once('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve));
      // compression() buffers writes unless flushed; without it this method does not exist.
      (res as ServerResponse & { flush?: () => void }).flush?.();
    }
  } finally {
    if (!res.destroyed) res.end();
  }
}

function toRequest(req: ExpressRequest, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
  return new Request(url, { method: req.method, headers, signal });
}
