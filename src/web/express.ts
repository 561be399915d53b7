/**
 * The Express adapter: turns an Express request into a web-standard Request for the task
 * handler and writes its Response back, flushing each server-sent event at once. It must
 * stay a thin shim: no routing or behaviour of its own, and only a type import of express
 * (an optional peer), so importing celeriac never requires express. It forwards no request
 * body: the task routes are GET only, and reading the body here would steal it from the
 * app's own routes. A request that is not the handler's own reaches `next()` before
 * anything is built from it, and no answer of its ever carries a stack or a file path.
 */
import type { ServerResponse } from 'node:http';
import type {
  NextFunction,
  Request as ExpressRequest,
  RequestHandler,
  Response as ExpressResponse,
} from 'express';
import {
  createTaskHandler,
  jsonError,
  type TaskHandlerOptions,
  type TaskReader,
} from './handler.js';

/**
 * A Host header a URL can hold: a name or IPv4 address, or a bracketed IPv6 one, and a
 * port. Anything else (spaces, slashes, `@`) would fail the URL or change the path in it.
 */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Middleware serving `GET <prefix>/:id` and `GET <prefix>/:id/stream`. Mount it without a
 * path: the prefix is matched against the full URL.
 * @example server.use(celeriacExpress(app, { prefix: '/tasks' }));
 */
export function celeriacExpress(app: TaskReader, options: TaskHandlerOptions = {}): RequestHandler {
  const handle = createTaskHandler(app, options);
  return (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    const pathname = pathOf(req.originalUrl);
    if (pathname === undefined || !handle.owns(req.method, pathname)) {
      next();
      return;
    }
    const aborted = new AbortController();
    // 'close' also fires after a normal end; only a close before the end means the client left.
    res.once('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    const request = toRequest(req, aborted.signal);
    const answering = request
      ? handle(request).then((response) => (response ? writeResponse(response, res) : next()))
      : writeResponse(
          jsonError(400, 'BadRequest', 'The request could not be read: check its Host header.'),
          res,
        );
    answering.catch((error: unknown) => {
      // The handler answers its own errors; this is a write that failed (the socket broke).
      if (request) options.onError?.(error, request);
      if (res.headersSent) res.destroy();
      else
        void writeResponse(
          jsonError(500, 'InternalError', 'The request failed; try again shortly.'),
          res,
        ).catch(() => res.destroy());
    });
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

/** The path as the handler will see it in the Request's URL, or undefined for a target that is not a path. */
function pathOf(originalUrl: string): string | undefined {
  if (!originalUrl.startsWith('/')) return undefined;
  try {
    return new URL(`http://localhost${originalUrl}`).pathname;
  } catch {
    return undefined;
  }
}

/** The web Request, or undefined when the request cannot be one (a Host no URL can hold). */
function toRequest(req: ExpressRequest, signal: AbortSignal): Request | undefined {
  const host = req.headers.host ?? 'localhost';
  if (!HOST.test(host)) return undefined;
  // Behind a trusted proxy `protocol` comes from X-Forwarded-Proto: only two values are URLs we build.
  const protocol = req.protocol === 'https' ? 'https' : 'http';
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const item of value) headers.append(name, item);
      else if (value !== undefined) headers.set(name, value);
    }
    return new Request(`${protocol}://${host}${req.originalUrl}`, {
      method: req.method,
      headers,
      signal,
    });
  } catch {
    return undefined;
  }
}
