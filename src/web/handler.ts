/**
 * Framework-agnostic HTTP handlers on the web-standard Request/Response: a task's state
 * as JSON (`GET <prefix>/:id`) and live as server-sent events (`GET <prefix>/:id/stream`),
 * plus `sendAndRespond` for the 202 a web app answers when it sends a task. Adapters
 * (Express, Fastify, Hono) only translate requests and responses; all behaviour is here.
 * A handler must never run, send or change a task: it only reads states. It answers
 * `undefined` for anything outside its routes so the host framework carries on. It must
 * never put an error's text, stack or a file path in a response: errors go to `onError`,
 * the client gets a plain JSON error.
 */
import type { AsyncResult } from '../app/async-result.js';
import type { ResultMeta } from '../protocol/types.js';
import { taskEventStream } from './sse.js';
import { toTaskView } from './task-view.js';

/** What the handlers need from an app: a handle on a task by id (a `Celeriac` fits). */
export interface TaskReader {
  asyncResult(taskId: string): Pick<AsyncResult, 'meta' | 'updates'>;
}

export interface TaskHandlerOptions {
  /** Path the routes live under. @default '/tasks' */
  prefix?: string | undefined;
  /** Milliseconds between SSE comment heartbeats, which keep proxies from closing idle streams. @default 15000 */
  heartbeatMs?: number | undefined;
  /** Milliseconds a browser waits before reconnecting a dropped stream (the SSE `retry:` field). @default 2000 */
  retryMs?: number | undefined;
  /**
   * Milliseconds one stream stays open. Then it ends with a `reconnect` event, and the
   * browser's EventSource reconnects by itself after `retryMs`, getting the current state
   * first: nothing is lost, and no connection holds a backend subscription forever.
   * @default 300000 (5 minutes)
   */
  streamLifetimeMs?: number | undefined;
  /**
   * Streams this handler keeps open at once. One more is answered `503` with `Retry-After`
   * (the JSON route is not limited), so clients cannot exhaust sockets and subscriptions.
   * @default 1000
   */
  maxOpenStreams?: number | undefined;
  /**
   * Decides who may read a task. Return `true` to allow, `false` for a 404 (so ids of
   * others' tasks are not confirmed to exist), or a Response to send as is.
   * Without it, knowing a task's id (a random UUID) is enough to read it.
   * @example authorize: (request, id) => ownsTask(sessionOf(request), id)
   */
  authorize?:
    | ((request: Request, taskId: string) => boolean | Response | Promise<boolean | Response>)
    | undefined;
  /**
   * Told of each error behind a `500` (a result backend that is down, an `authorize` that
   * throws) and of a stream that ended on one; the client only ever sees a plain JSON error.
   * @default one line and the error on stderr (`console.error`)
   * @example onError: (error, request) => logger.error({ err: error, url: request.url }, 'task route failed')
   */
  onError?: ((error: unknown, request: Request) => void) | undefined;
}

export interface TaskHandler {
  (request: Request): Promise<Response | undefined>;
  /** The `onError` the handler was given (or its default), for adapters to report a failed write. */
  readonly onError: (error: unknown, request: Request) => void;
  /**
   * Whether a request with this method and path would be answered by the handler; an
   * adapter asks before it builds a Request, so requests that are not its own reach the
   * framework untouched. `pathname` is the path of the URL, without the query.
   */
  owns(method: string, pathname: string): boolean;
  /** Event streams open now. */
  readonly openStreams: number;
}

/** Task ids are UUIDs, or ids a caller chose: letters, digits and `-_.:`, up to 128 characters. */
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * @example
 * const handle = createTaskHandler(app, { prefix: '/tasks' });
 * const response = (await handle(request)) ?? new Response('Not found', { status: 404 });
 */
export function createTaskHandler(app: TaskReader, options: TaskHandlerOptions = {}): TaskHandler {
  const prefix = normalisePrefix(options.prefix ?? '/tasks');
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const retryMs = options.retryMs ?? 2_000;
  const lifetimeMs = options.streamLifetimeMs ?? 300_000;
  const maxOpenStreams = options.maxOpenStreams ?? 1_000;
  const onError = options.onError ?? logToStderr;
  let openStreams = 0;

  const owns = (method: string, pathname: string) =>
    (method === 'GET' || method === 'HEAD') && pathname.startsWith(`${prefix}/`);

  const answer = async (request: Request): Promise<Response | undefined> => {
    const { pathname } = new URL(request.url);
    if (!owns(request.method, pathname)) return undefined;
    const segments = pathname.slice(prefix.length + 1).split('/');
    const [rawId = '', action, ...rest] = segments;
    if (rest.length > 0 || (action !== undefined && action !== 'stream')) {
      return jsonError(404, 'NotFound', `No such route: ${prefix}/:id or ${prefix}/:id/stream.`);
    }
    const taskId = decodeSegment(rawId);
    if (taskId === undefined || !TASK_ID.test(taskId)) {
      return jsonError(
        400,
        'InvalidTaskId',
        'A task id is 1 to 128 letters, digits or "-_.:" (a UUID, usually).',
      );
    }
    if (options.authorize) {
      const verdict = await options.authorize(request, taskId);
      if (verdict instanceof Response) return verdict;
      if (!verdict) return jsonError(404, 'NotFound', `No task ${taskId}.`);
    }
    const result = app.asyncResult(taskId);
    if (action === undefined) {
      const view = toTaskView(await result.meta());
      return json(200, view, request.method === 'HEAD');
    }
    if (request.method === 'HEAD')
      return new Response(null, { status: 200, headers: sseHeaders() });
    if (openStreams >= maxOpenStreams) {
      const response = jsonError(
        503,
        'TooManyStreams',
        'Too many task streams are open; try again shortly.',
      );
      response.headers.set('Retry-After', String(Math.max(1, Math.ceil(retryMs / 1000))));
      return response;
    }
    // The slot is taken before the backend is asked, and given back on every end: the
    // stream's controller aborts once whatever ends it (see sse.ts).
    openStreams++;
    const controller = new AbortController();
    controller.signal.addEventListener('abort', () => openStreams--, { once: true });
    return streamResponse(result, request.signal, controller, {
      heartbeatMs,
      retryMs,
      lifetimeMs,
      onError: (error) => onError(error, request),
    });
  };

  const handle = async (request: Request): Promise<Response | undefined> => {
    try {
      return await answer(request);
    } catch (error) {
      onError(error, request);
      return jsonError(
        500,
        'InternalError',
        'The task state could not be read; try again shortly.',
      );
    }
  };
  return Object.defineProperties(handle, {
    owns: { value: owns },
    onError: { value: onError },
    openStreams: { get: () => openStreams },
  }) as TaskHandler;
}

/**
 * Sends a task and answers as a web app should: 202 Accepted at once, the task id in the
 * body and where to follow it in `Location`. When the broker refuses the send, a 503
 * whose message does not leak the broker's (maybe secret-bearing) error text.
 * @example
 * return sendAndRespond(processOrder.delay(order), { prefix: '/tasks' });
 */
export async function sendAndRespond(
  sending: Promise<{ id: string }> | { id: string },
  options: { prefix?: string | undefined; body?: Record<string, unknown> | undefined } = {},
): Promise<Response> {
  let id: string;
  try {
    ({ id } = await sending);
  } catch {
    return jsonError(503, 'SendFailed', 'The task could not be queued; try again shortly.');
  }
  const location = `${normalisePrefix(options.prefix ?? '/tasks')}/${encodeURIComponent(id)}`;
  const response = json(202, {
    ...options.body,
    id,
    status: location,
    stream: `${location}/stream`,
  });
  response.headers.set('Location', location);
  return response;
}

async function streamResponse(
  result: Pick<AsyncResult, 'updates'>,
  clientSignal: AbortSignal,
  controller: AbortController,
  stream: {
    heartbeatMs: number;
    retryMs: number;
    lifetimeMs: number;
    onError: (error: unknown) => void;
  },
): Promise<Response> {
  const onClientGone = () => controller.abort();
  clientSignal.addEventListener('abort', onClientGone, { once: true });
  controller.signal.addEventListener(
    'abort',
    () => clientSignal.removeEventListener('abort', onClientGone),
    { once: true },
  );
  if (clientSignal.aborted) controller.abort();
  const updates = result.updates({ signal: controller.signal });
  // Read the current state before answering 200: a backend that is down fails this
  // request (a 500) instead of opening a stream that dies at once.
  let first: IteratorResult<ResultMeta>;
  try {
    first = await updates.next();
  } catch (error) {
    controller.abort();
    throw error;
  }
  if (first.done) {
    // Only when the client left while we read: nobody reads this answer (499 is nginx's
    // "client closed request").
    controller.abort();
    return new Response(null, { status: 499 });
  }
  const body = taskEventStream({ updates, first: first.value, controller, ...stream });
  return new Response(body, { status: 200, headers: sseHeaders() });
}

function sseHeaders(): Headers {
  return new Headers({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    // nginx buffers proxied responses unless told not to, which would hold every event back.
    'X-Accel-Buffering': 'no',
    'X-Content-Type-Options': 'nosniff',
  });
}

function json(status: number, body: unknown, headOnly = false): Response {
  return new Response(headOnly ? null : JSON.stringify(body), {
    status,
    // States change: a cached answer would show a stale state.
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      // A task's result is the task's own text: never let a browser sniff it as HTML.
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

/** A plain JSON error: `{ error: { type, message } }`. Adapters use it for what they cannot convert. */
export function jsonError(status: number, type: string, message: string): Response {
  return json(status, { error: { type, message } });
}

function logToStderr(error: unknown, request: Request): void {
  console.error(`celeriac web: ${request.method} ${new URL(request.url).pathname} failed:`, error);
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed.startsWith('/') || trimmed === '' ? trimmed : `/${trimmed}`;
}
