/**
 * The Express adapter: serves a FetchHandler's routes (the task handler's, the
 * dashboard's) from Express and passes every other request to `next()` before anything is
 * built from it. A thin shim over the shared Node translation (node-http.ts), with only a
 * type import of express (an optional peer), so importing celeriac never requires express.
 * A body is read only for a route the handler owns (or taken from `req.body` when a body
 * parser got there first), so the app's own routes keep theirs.
 */
import type { RequestHandler } from 'express';
import type { TaskHandlerOptions } from './handler.js';
import { toFetchHandler, type Mountable } from './fetch-handler.js';
import { serveNode } from './node-http.js';

export { writeResponse } from './node-http.js';
export type { FetchHandler, Mountable } from './fetch-handler.js';

/**
 * Middleware serving the handler's routes: `GET <prefix>/:id` and `GET <prefix>/:id/stream`
 * for an app, or every route of a FetchHandler (the dashboard). Mount it without a path:
 * the prefix is matched against the full URL.
 * @example server.use(celeriacExpress(app, { prefix: '/tasks' }));
 * @example server.use(celeriacExpress(createDashboard(app, { prefix: '/admin/tasks', authorize })));
 */
export function celeriacExpress(
  target: Mountable,
  options: TaskHandlerOptions = {},
): RequestHandler {
  const handler = toFetchHandler(target, options);
  return (req, res, next) => {
    // Behind a trusted proxy `protocol` comes from X-Forwarded-Proto: only two values are URLs we build.
    const protocol = req.protocol === 'https' ? 'https' : 'http';
    if (!serveNode(handler, req, res, { protocol, next: () => next() })) next();
  };
}
