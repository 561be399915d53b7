/**
 * The plain `node:http` adapter, and the Node translation every Node-based adapter
 * (Express, NestJS, Fastify, this one) shares: an IncomingMessage becomes a web-standard
 * Request (its body streamed only for a route the handler owns, so the app's own routes
 * keep theirs), and a web Response is written back to a ServerResponse with each chunk
 * flushed at once (server-sent events). It must never route or decide anything itself,
 * and never put an error's text, stack or a file path in an answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { toFetchHandler, type FetchHandler, type Mountable } from './fetch-handler.js';
import { jsonError, type TaskHandlerOptions } from './handler.js';

export type { FetchHandler, Mountable } from './fetch-handler.js';

/**
 * A Host header a URL can hold: a name or IPv4 address, or a bracketed IPv6 one, and a
 * port. Anything else (spaces, slashes, `@`) would fail the URL or change the path in it.
 */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** A Node request as the adapters see it: Express and Nest add `originalUrl`, a body parser `body`. */
export type NodeRequest = IncomingMessage & { originalUrl?: string; body?: unknown };

/**
 * A `(req, res, next)` listener serving the handler's routes and passing the rest to
 * `next` (404 when there is none): `http.createServer(celeriacNode(handler))`.
 * @example http.createServer(celeriacNode(app, { prefix: '/tasks' })).listen(3000);
 */
export function celeriacNode(
  target: Mountable,
  options: TaskHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse, next?: () => void) => void {
  const handler = toFetchHandler(target, options);
  return (req, res, next) => {
    if (!serveNode(handler, req, res, { protocol: 'http' })) {
      if (next) next();
      else void writeResponse(jsonError(404, 'NotFound', 'No such route.'), res);
    }
  };
}

/**
 * Serves one Node request with the handler when it owns it, and answers whether it did;
 * `false` means nothing was read or written, the app carries on. `next` is called when the
 * handler, after all, answers `undefined`.
 */
export function serveNode(
  handler: FetchHandler,
  req: NodeRequest,
  res: ServerResponse,
  options: { protocol: 'http' | 'https'; next?: (() => void) | undefined },
): boolean {
  const target = req.originalUrl ?? req.url ?? '';
  const pathname = pathOf(target);
  if (pathname === undefined || !handler.owns(req.method ?? 'GET', pathname)) return false;
  const aborted = new AbortController();
  // 'close' also fires after a normal end; only a close before the end means the client left.
  res.once('close', () => {
    if (!res.writableFinished) aborted.abort();
  });
  const request = toWebRequest(req, target, options.protocol, aborted.signal);
  const answering = request
    ? handler(request).then((response) => {
        if (response) return writeResponse(response, res);
        if (options.next) options.next();
        else return writeResponse(jsonError(404, 'NotFound', 'No such route.'), res);
      })
    : writeResponse(
        jsonError(400, 'BadRequest', 'The request could not be read: check its Host header.'),
        res,
      );
  answering.catch((error: unknown) => {
    // The handler answers its own errors; this is a write that failed (the socket broke).
    if (request) handler.onError?.(error, request);
    if (res.headersSent) res.destroy();
    else
      void writeResponse(
        jsonError(500, 'InternalError', 'The request failed; try again shortly.'),
        res,
      ).catch(() => res.destroy());
  });
  return true;
}

/** Writes a web-standard Response to a Node (or Express) response, streaming its body. */
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
export function pathOf(target: string): string | undefined {
  if (!target.startsWith('/')) return undefined;
  try {
    return new URL(`http://localhost${target}`).pathname;
  } catch {
    return undefined;
  }
}

/**
 * The web Request, or undefined when the request cannot be one (a Host no URL can hold).
 * The body is the request stream when nothing has read it yet, or, when a body parser got
 * there first (Express's `express.json()`, Nest's default parsers), what it parsed,
 * encoded again as its content type says.
 */
export function toWebRequest(
  req: NodeRequest,
  target: string,
  protocol: 'http' | 'https',
  signal: AbortSignal,
): Request | undefined {
  const host = req.headers.host ?? 'localhost';
  if (!HOST.test(host)) return undefined;
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const item of value) headers.append(name, item);
      else if (value !== undefined) headers.set(name, value);
    }
    const method = req.method ?? 'GET';
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
    if (method !== 'GET' && method !== 'HEAD') {
      const parsed = parsedBody(req, headers);
      if (parsed !== undefined) {
        headers.delete('content-length');
        init.body = parsed;
      } else if (!req.readableEnded) {
        init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
        init.duplex = 'half';
      }
    }
    return new Request(`${protocol}://${host}${target}`, init);
  } catch {
    return undefined;
  }
}

/** What a body parser left on `req.body`, as the bytes it came from; undefined when the stream is still unread. */
function parsedBody(req: NodeRequest, headers: Headers): string | undefined {
  if (!req.readableEnded || req.body === undefined || req.body === null) return undefined;
  const body = req.body;
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  const type = headers.get('content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded') && typeof body === 'object') {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      for (const item of Array.isArray(value) ? value : [value]) form.append(name, String(item));
    }
    return form.toString();
  }
  return JSON.stringify(body);
}
