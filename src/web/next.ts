/**
 * The Next.js adapter, for App Router route handlers: Next hands a route handler a
 * web-standard Request and takes a Response, so this only answers 404 where the handler
 * answers `undefined`. Imports nothing of next.
 * Put it in a catch-all route whose folder matches the handler's prefix, e.g.
 * `app/tasks/[...path]/route.ts` for the task handler under `/tasks`.
 */
import { jsonError, type TaskHandlerOptions } from './handler.js';
import { toFetchHandler, type Mountable } from './fetch-handler.js';

/** One function for each method a route file exports. */
export type NextRouteHandler = (request: Request) => Promise<Response>;

export interface NextRoutes {
  GET: NextRouteHandler;
  HEAD: NextRouteHandler;
  POST: NextRouteHandler;
}

/**
 * @example
 * // app/tasks/[...path]/route.ts
 * export const { GET, HEAD } = celeriacNext(app, { prefix: '/tasks' });
 * export const dynamic = 'force-dynamic';
 */
export function celeriacNext(target: Mountable, options: TaskHandlerOptions = {}): NextRoutes {
  const handler = toFetchHandler(target, options);
  const route: NextRouteHandler = async (request) =>
    (await handler(request)) ?? jsonError(404, 'NotFound', 'No such route.');
  return { GET: route, HEAD: route, POST: route };
}

export type { FetchHandler, Mountable } from './fetch-handler.js';
