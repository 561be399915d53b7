/**
 * The Fastify adapter: a plugin whose `onRequest` hook serves a FetchHandler's routes (the
 * task handler's, the dashboard's) before Fastify reads a body or looks for a route, and
 * lets every other request carry on untouched. A thin shim over the shared Node translation
 * (node-http.ts) with only a type import of fastify (an optional peer). The plugin skips
 * Fastify's encapsulation (as fastify-plugin does), so its hook sees every request of the
 * instance it is registered on.
 */
import type { FastifyPluginCallback } from 'fastify';
import type { TaskHandlerOptions } from './handler.js';
import { toFetchHandler, type Mountable } from './fetch-handler.js';
import { pathOf, serveNode } from './node-http.js';

/**
 * @example await fastify.register(celeriacFastify(app, { prefix: '/tasks' }));
 * @example await fastify.register(celeriacFastify(createDashboard(app, { authorize })));
 */
export function celeriacFastify(
  target: Mountable,
  options: TaskHandlerOptions = {},
): FastifyPluginCallback {
  const handler = toFetchHandler(target, options);
  const plugin: FastifyPluginCallback = (fastify, _options, done) => {
    fastify.addHook('onRequest', async (request, reply) => {
      const pathname = pathOf(request.raw.url ?? '');
      if (pathname === undefined || !handler.owns(request.raw.method ?? 'GET', pathname)) return;
      // From here the answer is ours, written to the raw response: Fastify stands aside.
      reply.hijack();
      serveNode(handler, request.raw, reply.raw, {
        protocol: request.protocol === 'https' ? 'https' : 'http',
      });
      return reply;
    });
    done();
  };
  // fastify-plugin's marker: register the hook on the parent instance, not a child scope.
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'celeriac',
  });
  return plugin;
}

export type { FetchHandler, Mountable } from './fetch-handler.js';
