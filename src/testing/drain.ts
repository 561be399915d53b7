/**
 * `drain`: runs an in-process worker on the app's memory:// broker until nothing is left to
 * do in its queues (nothing ready, nothing running, and by default nothing held for later),
 * then stops it, so a test can send tasks, drain, and assert on their results. Needs no
 * server. Must never touch a broker other than memory://.
 */
import type { Celeriac } from '../app/celeriac.js';
import { Worker } from '../worker/worker.js';
import { createLineLogger, type Logger } from '../logger.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { DrainNeedsMemoryBrokerError, DrainTimeoutError } from './errors.js';
import { sleep } from './wait.js';

export interface DrainOptions {
  /** Queues to drain. @default the app's default queue and every queue a registered task names */
  queues?: string[];
  /** Tasks run at once. @default 1 (one at a time in queue order, so a test sees a fixed order) */
  concurrency?: number;
  /**
   * What to do with messages held for later (a countdown, an eta, a retry's backoff): `'wait'`
   * runs them when due, `'leave'` stops once only they are left. @default 'wait'
   */
  delayed?: 'wait' | 'leave';
  /** Seconds before giving up with a DrainTimeoutError. @default 10 */
  timeout?: number;
  /** The worker's logger. @default silent */
  logger?: Logger;
}

export interface DrainReport {
  /** Deliveries the store made while draining (a retried task counts once per run). */
  deliveries: number;
  /** Messages still held for later (only with `delayed: 'leave'`). */
  delayed: number;
}

/**
 * @example
 *   await sendEmail.delay('ada@example.com', 'Welcome');
 *   await drain(app);
 *   expect(outbox).toHaveLength(1);
 */
export async function drain(app: Celeriac, options: DrainOptions = {}): Promise<DrainReport> {
  const broker = await app.broker();
  if (!(broker instanceof MemoryBroker)) throw new DrainNeedsMemoryBrokerError(broker.kind);
  const queues = options.queues ?? queuesOf(app);
  const waitDelayed = (options.delayed ?? 'wait') === 'wait';
  const timeoutMs = (options.timeout ?? 10) * 1000;
  const before = broker.deliveredCount;
  const worker = new Worker(app, {
    queues,
    concurrency: options.concurrency ?? 1,
    prefetchMultiplier: 1,
    hostname: 'celeriac@drain',
    logger: options.logger ?? createLineLogger({ level: 'silent' }),
  });
  await worker.start();
  const deadline = Date.now() + timeoutMs;
  const done = () => {
    const left = broker.activity(queues);
    return (
      left.ready === 0 &&
      left.unsettled === 0 &&
      (!waitDelayed || left.delayed === 0) &&
      worker.activeCount === 0
    );
  };
  try {
    // Done twice in a row, a turn apart: a task that just ended may still be sending its next.
    while (!(done() && (await sleep(1), done()))) {
      if (Date.now() > deadline)
        throw new DrainTimeoutError(timeoutMs / 1000, broker.activity(queues));
      await sleep(2);
    }
  } finally {
    await worker.stop({ timeout: 0 });
  }
  return { deliveries: broker.deliveredCount - before, delayed: broker.activity(queues).delayed };
}

function queuesOf(app: Celeriac): string[] {
  const queues = new Set([app.config.defaultQueue]);
  for (const name of app.taskNames()) {
    const queue = app.getTask(name)?.options.queue;
    if (queue) queues.add(queue);
  }
  return [...queues];
}
