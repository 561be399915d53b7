/**
 * The queues a command acts on when `-Q` is not given: the app's default queue and every
 * queue its registered tasks are sent to, as Celery's `purge` and `status` use the app's
 * known task queues. Reads the app only; never connects.
 */
import type { Celeriac } from '../app/celeriac.js';
import { listFlag } from './parse.js';

export function knownQueues(app: Celeriac): string[] {
  const taskQueues = app
    .taskNames()
    .map((name) => app.getTask(name)?.options.queue ?? app.config.defaultQueue);
  return [...new Set([app.config.defaultQueue, ...taskQueues])];
}

/** `-Q a,b` when given (and not empty), else the app's known queues. */
export function queuesFromFlag(app: Celeriac, flag: string | undefined): string[] {
  const given = listFlag(flag);
  return given?.length ? given : knownQueues(app);
}
