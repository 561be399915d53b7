/**
 * The NestJS adapter: a functional middleware on Node's own request and response, so it
 * serves a FetchHandler's routes (the task handler's, the dashboard's) under Nest's
 * Express platform and its Fastify platform alike, and passes every other request to
 * `next()`. A thin shim over the shared Node translation (node-http.ts); it imports
 * nothing of Nest, so no decorator metadata is needed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TaskHandlerOptions } from './handler.js';
import { toFetchHandler, type Mountable } from './fetch-handler.js';
import { serveNode, type NodeRequest } from './node-http.js';

/** Nest's functional middleware shape, on either platform. */
export type NestMiddleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/**
 * In `main.ts`, before `listen` (before Nest's body parsers): `app.use(celeriacNest(celeriac))`.
 * Or in a module: `consumer.apply(celeriacNest(handler)).forRoutes({ path: '*path', method: RequestMethod.ALL })`.
 * @example app.use(celeriacNest(createDashboard(celeriac, { prefix: '/admin/tasks', authorize })));
 */
export function celeriacNest(target: Mountable, options: TaskHandlerOptions = {}): NestMiddleware {
  const handler = toFetchHandler(target, options);
  return (req, res, next) => {
    const node = req as NodeRequest & { protocol?: string };
    const secure = node.protocol === 'https' || (req.socket as TLSSocket).encrypted === true;
    if (!serveNode(handler, node, res, { protocol: secure ? 'https' : 'http', next })) next();
  };
}

export type { FetchHandler, Mountable } from './fetch-handler.js';
