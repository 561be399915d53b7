/**
 * Real servers of every framework the web adapters support, each mounting the same
 * FetchHandlers (or an app, for the task handler) through its own adapter and having two
 * routes of its own: `GET /hello` answers `hello`, `POST /own` answers `own:` and the JSON
 * body the framework parsed, so a test can tell that requests not the handler's reach the
 * app with their body intact. Servers close when the test ends.
 * Test support only; it must never be imported by src/.
 */
import http, { type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'vitest';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { serve as serveHono } from '@hono/node-server';
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { celeriacExpress } from '../../src/web/express.js';
import { celeriacFastify } from '../../src/web/fastify.js';
import { celeriacHono } from '../../src/web/hono.js';
import { celeriacNest } from '../../src/web/nest.js';
import { celeriacNode } from '../../src/web/node-http.js';
import type { Mountable } from '../../src/web/fetch-handler.js';

export type Framework = 'express' | 'fastify' | 'hono' | 'nest' | 'node';
export const FRAMEWORKS: Framework[] = ['express', 'fastify', 'hono', 'nest', 'node'];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/** Starts a real server of `framework` with the mounts in order; answers its base URL. */
export async function serveWith(
  test: TestContext,
  framework: Framework,
  mounts: Mountable[],
): Promise<string> {
  let close: () => Promise<void>;
  let port: number;
  switch (framework) {
    case 'express': {
      const server = express();
      // Parsers before the adapter: a handler's body then comes from req.body, re-encoded.
      server.use(express.urlencoded({ extended: false }), express.json());
      for (const mount of mounts) server.use(celeriacExpress(mount));
      server.get('/hello', (_req, res) => void res.send('hello'));
      server.post('/own', (req, res) => void res.send(`own:${JSON.stringify(req.body)}`));
      const listening = http.createServer(server);
      port = await listen(listening);
      close = () => closeServer(listening);
      break;
    }
    case 'fastify': {
      const server = Fastify();
      for (const mount of mounts) await server.register(celeriacFastify(mount));
      server.get('/hello', () => 'hello');
      server.post('/own', (request) => `own:${JSON.stringify(request.body)}`);
      await server.listen({ port: 0, host: '127.0.0.1' });
      port = (server.server.address() as AddressInfo).port;
      close = async () => {
        server.server.closeAllConnections();
        await server.close();
      };
      break;
    }
    case 'hono': {
      const server = new Hono();
      for (const mount of mounts) server.use(celeriacHono(mount));
      server.get('/hello', (c) => c.text('hello'));
      server.post('/own', async (c) => c.text(`own:${JSON.stringify(await c.req.json())}`));
      const listening = serveHono({
        fetch: server.fetch,
        port: 0,
        hostname: '127.0.0.1',
      }) as Server;
      await new Promise((resolve) => listening.once('listening', resolve));
      port = (listening.address() as AddressInfo).port;
      close = () => closeServer(listening);
      break;
    }
    case 'nest': {
      class AppModule {}
      Module({})(AppModule);
      const nest = await NestFactory.create<NestExpressApplication>(AppModule, { logger: false });
      for (const mount of mounts) nest.use(celeriacNest(mount));
      // The app's own routes, without decorators, straight on Nest's Express instance.
      const instance = nest.getHttpAdapter().getInstance();
      instance.get('/hello', (_req, res) => void res.send('hello'));
      instance.post(
        '/own',
        express.json(),
        (req, res) => void res.send(`own:${JSON.stringify(req.body)}`),
      );
      await nest.listen(0, '127.0.0.1');
      const listening = nest.getHttpServer();
      port = (listening.address() as AddressInfo).port;
      close = async () => {
        listening.closeAllConnections();
        await nest.close();
      };
      break;
    }
    case 'node': {
      const handlers = mounts.map((mount) => celeriacNode(mount));
      const listening = http.createServer((req, res) => {
        const own = () => {
          if (req.url === '/hello') res.end('hello');
          else if (req.method === 'POST' && req.url === '/own')
            void readBody(req).then((body) => res.end(`own:${JSON.stringify(JSON.parse(body))}`));
          else res.writeHead(404).end('app: not found');
        };
        const chain = handlers.reduceRight<() => void>(
          (next, handle) => () => handle(req, res, next),
          own,
        );
        chain();
      });
      port = await listen(listening);
      close = () => closeServer(listening);
      break;
    }
  }
  test.onTestFinished(() => close());
  return `http://127.0.0.1:${port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
