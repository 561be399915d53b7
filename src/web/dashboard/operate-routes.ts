/**
 * The dashboard's operations as routes: worker commands sent by remote control (kombu's
 * pidbox, over the app's broker when it has fanout), queue pause/resume stored in the
 * worker registry (remote control where the registry cannot store it), and dead
 * letters redriven through the broker's optional members; each after a confirmation
 * that says what it will do. The handler (index.ts) has already checked `authorize`,
 * read-only and the CSRF token before a POST reaches here; this module checks every
 * field (known worker, shown queue, bounded numbers) before it acts.
 */
import type { Broker, OldestMessage } from '../../brokers/broker.js';
import type { TaskListing } from '../../backends/task-listing.js';
import type { WorkerInfo } from '../../backends/worker-registry.js';
import type { JsonObject } from '../../protocol/types.js';
import { ControlClient } from '../../app/control-client.js';
import type { Html } from './html.js';
import {
  confirmOperation,
  OPERATIONS,
  operationDone,
  type ControlState,
  type QueueRow,
} from './operate.js';

export interface OperationDeps {
  broker: () => Promise<Broker>;
  prefix: string;
  readOnly: boolean;
  /** The queues the dashboard shows: the only ones it operates on. */
  queues: () => string[];
  queueDepths: () => Promise<Array<[string, number | null]>>;
  onlineWorkers: () => Promise<WorkerInfo[]>;
  /** Queues paused for every worker, stored; undefined where the registry cannot store pauses. */
  pausedQueues: () => Promise<string[] | undefined>;
  /** Stores a pause or resume for every worker; false where the registry cannot. */
  setQueuePaused: (queue: string, paused: boolean) => Promise<boolean>;
  listing: () => Promise<TaskListing>;
  page: (request: Request, csrf: string, current: string, title: string, body: Html) => Response;
  plain: (status: number, text: string) => Response;
}

export function operationRoutes(deps: OperationDeps) {
  const { prefix, readOnly, queues, queueDepths, onlineWorkers, listing, page, plain } = deps;
  const app = { broker: deps.broker };

  /** Remote control over the app's broker, when it has fanout (Redis, RabbitMQ, SQLite, PostgreSQL). */
  let control: ControlClient | undefined;
  const controlClient = async (): Promise<ControlClient | undefined> => {
    const broker = await app.broker();
    if (!broker.broadcasting) return undefined;
    control ??= new ControlClient(broker);
    return control;
  };
  const controlState = async (csrf: string): Promise<ControlState> => {
    const broker = await app.broker();
    return {
      csrf,
      readOnly,
      unavailable: broker.broadcasting
        ? undefined
        : `Worker and queue operations use remote control, which needs a broker with fanout (Redis, RabbitMQ, SQLite or PostgreSQL); the ${broker.kind} broker has none.`,
    };
  };

  const queueRows = async (workers: WorkerInfo[]): Promise<QueueRow[]> => {
    const broker = await app.broker();
    const list = await listing().catch(() => undefined);
    const since = Date.now() - 5 * 60_000;
    const ended = new Map<string, number>();
    const activity = list?.activity ? await list.activity(since) : undefined;
    const paused = new Set((await deps.pausedQueues().catch(() => undefined)) ?? []);
    for (const row of activity ?? [])
      if (row.state === 'SUCCESS' || row.state === 'FAILURE')
        ended.set(row.queue, (ended.get(row.queue) ?? 0) + row.count);
    return Promise.all(
      (await queueDepths()).map(async ([name, depth]): Promise<QueueRow> => {
        const oldest = await oldestOf(broker, name);
        return {
          name,
          depth,
          // Counters are per minute: the window starts at the minute five minutes ago.
          perMinute: activity ? (ended.get(name) ?? 0) / 5 : undefined,
          oldestMs:
            typeof oldest === 'number' ? Date.now() - oldest : oldest === null ? null : undefined,
          oldestUnknown: typeof oldest === 'object' && oldest !== null ? oldest.unknown : undefined,
          consumers: workers.filter((w) => w.queues.includes(name)).map((w) => w.hostname),
          paused: paused.has(name),
        };
      }),
    );
  };

  /** Confirms, then sends one remote-control command and shows what the workers answered. */
  const operate = async (
    request: Request,
    csrf: string,
    path: string,
    form: URLSearchParams,
    what: string,
    command: string,
    args: JsonObject,
    destination: string[] | undefined,
    expected: number,
  ): Promise<Response> => {
    const client = await controlClient();
    if (!client) return plain(501, (await controlState(csrf)).unavailable ?? '');
    if (form.get('confirm') !== 'yes') {
      const fields = [...form].filter(([key]) => key !== 'csrf' && key !== 'confirm');
      return page(
        request,
        csrf,
        path,
        'Confirm',
        confirmOperation(prefix, path, what, fields, csrf),
      );
    }
    const replies = await client.broadcast(command, {
      arguments: args,
      ...(destination ? { destination } : {}),
      timeout: 2,
      ...(expected > 0 ? { limit: expected } : {}),
    });
    return page(request, csrf, path, 'Done', operationDone(prefix, path, what, replies));
  };

  /** The answer to a POST of an operation's page, or undefined for another path. */
  const post = async (
    request: Request,
    path: string,
    form: URLSearchParams,
    csrf: string,
  ): Promise<Response | undefined> => {
    if (path === '/workers') {
      const operation = OPERATIONS[form.get('action') ?? ''];
      const worker = form.get('worker') ?? '';
      if (!operation) return plain(400, 'Unknown worker operation.');
      if (!(await onlineWorkers()).some((w) => w.hostname === worker))
        return plain(404, `No worker "${worker}" is online.`);
      let what: string;
      let args: JsonObject;
      try {
        what = operation.describe(worker, form);
        args = operation.arguments(form);
      } catch (error) {
        if (error instanceof RangeError) return plain(400, error.message);
        throw error;
      }
      return operate(request, csrf, '/workers', form, what, operation.command, args, [worker], 1);
    }
    if (path === '/dead-letters') {
      const broker = await app.broker();
      const queue = form.get('queue') ?? '';
      if (!queues().includes(queue)) return plain(404, `No queue "${queue}" is shown here.`);
      if (!broker.listDeadLetters || !broker.redriveDeadLetters)
        return plain(501, 'This broker keeps no dead letters the dashboard can redrive.');
      const all = form.get('action') === 'redrive-all';
      const ids = all
        ? (await broker.listDeadLetters(queue, 100)).map((letter) => letter.id)
        : form.getAll('id').filter((id) => /^[A-Za-z0-9_-]{1,64}$/.test(id));
      if (ids.length === 0) return plain(400, 'Select at least one dead letter.');
      if (form.get('confirm') !== 'yes') {
        const fields: Array<[string, string]> = [
          ['queue', queue],
          ['action', 'redrive'],
          ...ids.map((id): [string, string] => ['id', id]),
        ];
        return page(
          request,
          csrf,
          '/dead-letters',
          'Confirm',
          confirmOperation(
            prefix,
            '/dead-letters',
            `redrive ${ids.length} dead letter${ids.length === 1 ? '' : 's'} back to queue ${queue}`,
            fields,
            csrf,
          ),
        );
      }
      const moved = await broker.redriveDeadLetters(queue, ids);
      return page(
        request,
        csrf,
        '/dead-letters',
        'Done',
        operationDone(
          prefix,
          '/dead-letters',
          `${moved} dead letter(s) back to queue ${queue}`,
          undefined,
        ),
      );
    }
    if (path === '/queues') {
      const queue = form.get('queue') ?? '';
      const action = form.get('action');
      if (!queues().includes(queue)) return plain(404, `No queue "${queue}" is shown here.`);
      if (action !== 'pause' && action !== 'resume') return plain(400, 'Unknown queue operation.');
      if ((await deps.pausedQueues()) !== undefined) {
        // Stored: every worker follows it at its next heartbeat, also after a restart, and a
        // worker started later starts with the queue paused.
        const what = `${action} queue ${queue} for every worker, now and after restarts`;
        if (form.get('confirm') !== 'yes') {
          const fields = [...form].filter(([key]) => key !== 'csrf' && key !== 'confirm');
          return page(
            request,
            csrf,
            '/queues',
            'Confirm',
            confirmOperation(prefix, '/queues', what, fields, csrf),
          );
        }
        await deps.setQueuePaused(queue, action === 'pause');
        return page(
          request,
          csrf,
          '/queues',
          'Done',
          operationDone(prefix, '/queues', what, undefined),
        );
      }
      const workers = await onlineWorkers();
      return operate(
        request,
        csrf,
        '/queues',
        form,
        `${action} queue ${queue} on every live worker (${workers.length})`,
        action === 'pause' ? 'cancel_consumer' : 'add_consumer',
        { queue },
        undefined,
        workers.length,
      );
    }
    return undefined;
  };

  return { controlState, queueRows, post };
}

/**
 * The queue's oldest message as the broker tells it: unix ms, null (none waits), or why
 * it cannot be told (a broker without the member, a message without a time, a failure).
 */
async function oldestOf(broker: Broker, queue: string): Promise<number | null | OldestMessage> {
  if (!broker.oldestMessageAt)
    return {
      unknown:
        broker.kind === 'amqp'
          ? 'RabbitMQ tells how many messages wait, not when the oldest was published'
          : `the ${broker.kind} broker keeps no publish time it can read`,
    };
  try {
    return await broker.oldestMessageAt(queue);
  } catch {
    return { unknown: 'the broker did not answer' };
  }
}
