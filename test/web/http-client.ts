/**
 * Real Express servers for web tests, and a raw HTTP/1.1 client on `net` for requests
 * that fetch refuses to send (a bad Host header, TRACE). Servers close when the test ends.
 * Test support only; it must never be imported by src/.
 */
import net, { type AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { TestContext } from 'vitest';
import type { TaskReader } from '../../src/web/handler.js';
import { celeriacExpress } from '../../src/web/express.js';
import type { TaskHandlerOptions } from '../../src/web/index.js';

export interface Served {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
}

/**
 * An Express app with the task routes under `/tasks` and two routes of its own: `/hello`,
 * and a catch-all that answers `app saw <METHOD> <url>`, so a test can tell what reached
 * `next()` and how.
 */
export async function serveExpress(
  test: TestContext,
  app: TaskReader,
  options: TaskHandlerOptions = {},
): Promise<Served> {
  const server: Express = express();
  server.use(celeriacExpress(app, { prefix: '/tasks', ...options }));
  server.get('/hello', (_req, res) => void res.send('hello'));
  server.use(
    (req, res) =>
      void res.status(200).type('text/plain').send(`app saw ${req.method} ${req.originalUrl}`),
  );
  const listening = server.listen(0);
  await new Promise<void>((resolve) => listening.once('listening', resolve));
  test.onTestFinished(async () => {
    listening.closeAllConnections();
    await new Promise((resolve) => listening.close(resolve));
  });
  const { port } = listening.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one request exactly as written (`Connection: close` is added) and reads the whole
 * answer. `head` is the request line and headers without the final blank line.
 */
export function rawRequest(port: number, head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () =>
      socket.destroy(new Error(`no answer to ${JSON.stringify(head)} within 10 s`)),
    );
    socket.once('connect', () => socket.write(`${head}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks)));
    });
  });
}

function parseResponse(raw: Buffer): RawResponse {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split === -1 ? raw.length : split).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = split === -1 ? Buffer.alloc(0) : raw.subarray(split + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.toString('utf8') };
}

/** Chunk sizes count bytes, so this works on the bytes, not on decoded text. */
function unchunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let rest = body;
  for (;;) {
    const newline = rest.indexOf('\r\n');
    const size = parseInt(rest.subarray(0, newline).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(rest.subarray(newline + 2, newline + 2 + size));
    rest = rest.subarray(newline + 2 + size + 2);
  }
}
