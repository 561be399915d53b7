/**
 * What every adapter mounts: a FetchHandler (the task handler, the dashboard, any handler
 * of the same shape), or an app and task-handler options, for which the task handler is
 * made. One place, so each adapter stays a translation and nothing more.
 */
import { createTaskHandler, type TaskHandlerOptions, type TaskReader } from './handler.js';

/**
 * A web-standard handler the adapters mount: answers its own requests and `undefined` for
 * the others, and says before any Request is built whether a method and path are its own.
 * `createTaskHandler` and `createDashboard` both return one.
 */
export interface FetchHandler {
  (request: Request): Promise<Response | undefined>;
  /** Whether the handler answers this method and path (the URL's path, without the query). */
  owns(method: string, pathname: string): boolean;
  /** Told of an error an adapter met writing an answer (a broken socket). */
  readonly onError?: ((error: unknown, request: Request) => void) | undefined;
}

/** A FetchHandler, or a task reader (a `Celeriac` app) to make the task handler for. */
export type Mountable = FetchHandler | TaskReader;

export function toFetchHandler(target: Mountable, options: TaskHandlerOptions = {}): FetchHandler {
  return typeof target === 'function' ? target : createTaskHandler(target, options);
}
