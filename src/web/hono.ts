/**
 * The Hono adapter: a middleware that hands a FetchHandler (the task handler, the
 * dashboard) Hono's own web-standard Request and returns its Response; every other
 * request goes on to `next()`. Hono speaks Request/Response already, so nothing is
 * translated; only a type import of hono (an optional peer). Runs wherever Hono runs
 * (Node through @hono/node-server, Bun, Deno), as long as the app's broker and backend do.
 */
import type { MiddlewareHandler } from 'hono';
import type { TaskHandlerOptions } from './handler.js';
import { toFetchHandler, type Mountable } from './fetch-handler.js';

/**
 * @example hono.use(celeriacHono(app, { prefix: '/tasks' }));
 * @example hono.use(celeriacHono(createDashboard(app, { authorize })));
 */
export function celeriacHono(
  target: Mountable,
  options: TaskHandlerOptions = {},
): MiddlewareHandler {
  const handler = toFetchHandler(target, options);
  return async (c, next) => {
    if (!handler.owns(c.req.method, new URL(c.req.url).pathname)) return next();
    const response = await handler(c.req.raw);
    if (response) return response;
    return next();
  };
}

export type { FetchHandler, Mountable } from './fetch-handler.js';
