/**
 * The app: configuration, the task registry, and the connections to the broker and the
 * result backend, opened lazily on first use. Creating an app has no side effects, so
 * modules can export one freely.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Broker, PublishOptions } from '../brokers/broker.js';
import type { ResultBackend } from '../backends/backend.js';
import { createBroker } from '../brokers/registry.js';
import { createBackend } from '../backends/registry.js';
import {
  CeleriacError,
  TaskNotRegisteredError,
  TransactionalPublishUnsupportedError,
} from '../errors.js';
import { SentEvents } from './sent-events.js';
import { TaskHistoryRecorder } from './task-history-recorder.js';
import { AsyncResult } from './async-result.js';
import { buildTaskMessage, type BuiltMessage } from './build-message.js';
import { resolveConfig, type CeleriacOptions, type ResolvedConfig } from './config.js';
import { Task, TaskRef, type TaskFunction } from './task.js';
import type { ApplyOptions, FlowCallOptions, TaskOptions } from './task-options.js';
import type { EntryDefinition } from '../backends/beat-store.js';
import { toDefinition, type PeriodicOptions } from '../beat/periodic.js';
import { AppFlow } from '../flow/app-flow.js';
import { FLOW_HEADER, flowHeaderOf } from '../flow/flow-headers.js';
import { needsFlowStore, sendThroughFlow } from '../flow/flow-send.js';

export class NoResultBackendError extends CeleriacError {
  constructor() {
    super(
      'This app has no result backend: pass `backend` to new Celeriac() or set CELERIAC_RESULT_BACKEND ' +
        '(sqlite://, redis://).',
    );
  }
}

/** One call in a bulk send. */
export interface BulkCall {
  task: TaskRef<unknown[], unknown> | string;
  args: unknown[];
  options?: ApplyOptions;
}

export class Celeriac {
  readonly config: ResolvedConfig;
  /** Identifies this process as the `reply_to` of what it sends (Celery's app oid). */
  readonly oid = randomUUID();
  readonly origin: string;
  private readonly registry = new Map<string, Task<unknown[], unknown>>();
  /** Flow control's side of the app: each limit's state (`app.flow.state(name)`), idempotent sends. */
  readonly flow: AppFlow = new AppFlow(
    () => this.resultBackend(),
    () => this.broker(),
  );
  private readonly periodicEntries = new Map<string, EntryDefinition>();
  /** The broker object, created but maybe not connected (the backend is handed it so). */
  private brokerCreated: Promise<Broker> | undefined;
  private brokerPromise: Promise<Broker> | undefined;
  /** The broker once connected: a send takes it without awaiting `brokerPromise` again. */
  private connectedBroker: Broker | undefined;
  private backendPromise: Promise<ResultBackend> | undefined;
  private readonly sentEvents = new SentEvents();
  /** Writes task-sent to the task history (the `taskHistory` option); made on first send. */
  private historyRecorder: TaskHistoryRecorder | undefined;

  constructor(options: CeleriacOptions = {}) {
    this.config = resolveConfig(options);
    this.origin = options.origin ?? `${process.pid}@${os.hostname()}`;
  }

  /**
   * Registers a task. Its arguments and result types flow to `delay`, `applyAsync` and
   * `AsyncResult<T>`.
   * @example
   * export const sendEmail = app.task('emails.send', async (to: string, subject: string) => {
   *   await mailer.send(to, subject);
   *   return { sent: true };
   * });
   */
  task<TArgs extends unknown[], TResult>(
    name: string,
    run: TaskFunction<TArgs, TResult>,
    options: TaskOptions<TArgs, NoInfer<Awaited<TResult>>> = {},
  ): Task<TArgs, Awaited<TResult>> {
    if (this.registry.has(name))
      throw new CeleriacError(`A task named "${name}" is already registered.`);
    const task = new Task<TArgs, Awaited<TResult>>(
      name,
      this,
      run as TaskFunction<TArgs, Awaited<TResult>>,
      options,
    );
    this.registry.set(name, task as unknown as Task<unknown[], unknown>);
    return task;
  }

  /**
   * Declares a task that runs elsewhere (another service, Python Celery) by name, with
   * its argument and result types, so calls to it are type-checked too.
   * @example const add = app.signature<[number, number], number>('tasks.add');
   */
  signature<TArgs extends unknown[], TResult>(
    name: string,
    options: TaskOptions<TArgs> = {},
  ): TaskRef<TArgs, TResult> {
    return new TaskRef<TArgs, TResult>(name, this, options);
  }

  /**
   * Declares a periodic task, sent by beat (`celeriac -A <module> beat`, or `worker -B`).
   * @example
   * app.periodic('daily-report', {
   *   task: sendDailyReport,
   *   schedule: crontab('0 8 * * *', { tz: 'Europe/London' }),
   *   args: ['sales'],
   *   options: { expires: 3600 },
   * });
   */
  periodic<TArgs extends unknown[]>(name: string, options: PeriodicOptions<TArgs>): void {
    if (this.periodicEntries.has(name))
      throw new CeleriacError(`A periodic entry named "${name}" is already declared.`);
    this.periodicEntries.set(name, toDefinition(name, options));
  }

  /** The periodic entries declared in code, as beat stores them. */
  periodicDefinitions(): EntryDefinition[] {
    return [...this.periodicEntries.values()];
  }

  /** The registered task with this name, or undefined. */
  getTask(name: string): Task<unknown[], unknown> | undefined {
    return this.registry.get(name);
  }

  /** The registered task with this name; throws TaskNotRegisteredError when there is none. */
  requireTask(name: string): Task<unknown[], unknown> {
    const task = this.registry.get(name);
    if (!task) throw new TaskNotRegisteredError(name);
    return task;
  }

  /** Names of every registered task. */
  taskNames(): string[] {
    return [...this.registry.keys()];
  }

  /**
   * Sends any task by name, registered here or not. Not async: once the broker is connected,
   * a plain call is one publish and one `then` (no async layer, its promise and its await on
   * the way); the rest (flow control, idempotency keys, the first connect) goes through
   * `sendTaskSlowly`. Errors still come back as rejections, never thrown.
   */
  sendTask<TResult = unknown>(
    name: string,
    args: unknown[] = [],
    options: ApplyOptions = {},
    defaults: TaskOptions = this.registry.get(name)?.options ?? {},
  ): Promise<AsyncResult<TResult>> {
    const broker = this.connectedBroker;
    if (broker === undefined || options.flow !== undefined || needsFlowStore(options, defaults))
      return this.sendTaskSlowly(name, args, options, defaults);
    let built: BuiltMessage;
    let published: Promise<void>;
    try {
      built = this.build(name, args, options, defaults);
      published = broker.publish(built.message, publishOptionsFor(broker, built.publish));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return published.then(() => {
      this.noteSent(broker, [{ message: built.message, queue: built.publish.queue }]);
      return new AsyncResult<TResult>(built.id, this);
    });
  }

  private async sendTaskSlowly<TResult>(
    name: string,
    args: unknown[],
    options: ApplyOptions,
    defaults: TaskOptions,
  ): Promise<AsyncResult<TResult>> {
    if (options.flow !== undefined) options = withFlowHeader(options, options.flow);
    const broker = this.connectedBroker ?? (await this.broker());
    const id = await sendThroughFlow(this.flow, name, args, options, defaults, {
      build: (call) => this.build(name, args, call, defaults),
      publish: (built) => this.publishBuilt(broker, built),
      keepMs: this.config.resultExpiresMs || 86_400_000,
    });
    return new AsyncResult<TResult>(id, this);
  }

  private async publishBuilt(broker: Broker, built: BuiltMessage): Promise<void> {
    await broker.publish(built.message, publishOptionsFor(broker, built.publish));
    this.noteSent(broker, [{ message: built.message, queue: built.publish.queue }]);
  }

  /** After a publish: Celery's `task-sent` event when asked for, and the task history's. */
  private noteSent(
    broker: Broker,
    sent: ReadonlyArray<{ message: BuiltMessage['message']; queue: string }>,
  ): void {
    if (this.config.taskSendSentEvent) this.sentEvents.note(broker, sent);
    if (!this.config.taskHistory) return;
    this.historyRecorder ??= new TaskHistoryRecorder(
      () => this.resultBackend().then((backend) => backend.taskHistory?.()),
      `gen${process.pid}@${os.hostname()}`,
      this.config.resultExpiresMs,
      (error) => console.warn(`celeriac: could not record a task-sent event: ${error.message}`),
    );
    for (const { message, queue } of sent) {
      const id = message.headers.id;
      if (typeof id === 'string') this.historyRecorder.record(id, 'task-sent', `queue ${queue}`);
    }
  }

  /**
   * Sends many tasks in as few broker round trips as it allows. Calls that need the flow
   * store (an idempotency key, a task with debounce or fairness) take the same flow step
   * as `sendTask`, one by one; the rest go in one batch.
   */
  async sendMany(calls: readonly BulkCall[]): Promise<AsyncResult<unknown>[]> {
    const results: Array<AsyncResult<unknown> | undefined> = [];
    const plain: Array<{ index: number; built: BuiltMessage }> = [];
    const flowed: Array<Promise<void>> = [];
    calls.forEach((call, index) => {
      const name = typeof call.task === 'string' ? call.task : call.task.name;
      const defaults =
        typeof call.task === 'string'
          ? (this.registry.get(name)?.options ?? {})
          : call.task.options;
      let options = call.options ?? {};
      if (needsFlowStore(options, defaults)) {
        flowed.push(
          this.sendTask(name, call.args, options, defaults).then((result) => {
            results[index] = result;
          }),
        );
        return;
      }
      if (options.flow !== undefined) options = withFlowHeader(options, options.flow);
      plain.push({ index, built: this.build(name, call.args, options, defaults) });
    });
    const broker = await this.broker();
    if (plain.length > 0) {
      await broker.publishMany(
        plain.map(({ built: { message, publish } }) => ({
          message,
          options: publishOptionsFor(broker, publish),
        })),
      );
      this.noteSent(
        broker,
        plain.map(({ built: { message, publish } }) => ({ message, queue: publish.queue })),
      );
      for (const { index, built } of plain) results[index] = new AsyncResult(built.id, this);
    }
    await Promise.all(flowed);
    return results as AsyncResult<unknown>[];
  }

  /** A handle on a task by id, e.g. one sent by another process. */
  asyncResult<TResult = unknown>(taskId: string): AsyncResult<TResult> {
    return new AsyncResult<TResult>(taskId, this);
  }

  /**
   * The broker, connected. Opened on first use; a failed first connect is not remembered
   * (the next call tries again) and leaves no connection retrying behind it.
   */
  broker(): Promise<Broker> {
    if (this.brokerPromise) return this.brokerPromise;
    const promise: Promise<Broker> = connectOrClose(
      () => this.brokerObject(),
      this.config.broker === undefined,
    ).then(
      (broker) => {
        // Unless close() began meanwhile (it drops the promise).
        if (this.brokerPromise === promise) this.connectedBroker = broker;
        return broker;
      },
      (error: unknown) => {
        if (this.brokerPromise === promise) this.brokerPromise = undefined;
        if (this.config.broker === undefined) this.brokerCreated = undefined; // closed by connectOrClose
        throw error;
      },
    );
    this.brokerPromise = promise;
    return promise;
  }

  /** The broker, created on first use, not connected. */
  private brokerObject(): Promise<Broker> {
    this.brokerCreated ??= (async () =>
      this.config.broker ??
      (await createBroker(this.config.brokerUrl ?? '', {
        keyPrefix: this.config.keyPrefix,
        leaseMs: this.config.leaseMs,
      })))().catch((error: unknown) => {
      this.brokerCreated = undefined;
      throw error;
    });
    return this.brokerCreated;
  }

  /**
   * Hands this app's broker, unconnected, to its backend before the backend connects
   * (ResultBackend.attachBroker): the link between the two is this app's, never the
   * process's. A backend used alone (no broker configured, or one that cannot be created)
   * is left alone: the broker's error surfaces where the broker is used.
   */
  private async attachBroker(backend: ResultBackend): Promise<void> {
    if (!backend.attachBroker || (this.config.broker === undefined && !this.config.brokerUrl))
      return;
    const broker = await this.brokerObject().catch(() => undefined);
    if (broker) backend.attachBroker(broker);
  }

  /** The result backend, connected. Opened on first use; a failed first connect is not remembered. */
  resultBackend(): Promise<ResultBackend> {
    this.backendPromise ??= connectOrClose(async () => {
      const { backend: given, backendUrl } = this.config;
      if (!given && !backendUrl) throw new NoResultBackendError();
      const backend =
        given ??
        (await createBackend(backendUrl ?? '', {
          keyPrefix: this.config.keyPrefix,
          resultExpiresMs: this.config.resultExpiresMs,
          resultExtended: this.config.resultExtended,
        }));
      await this.attachBroker(backend);
      return backend;
    }, this.config.backend === undefined).catch((error: unknown) => {
      this.backendPromise = undefined;
      throw error;
    });
    return this.backendPromise;
  }

  /** Closes the broker and backend connections this app opened. */
  async close(): Promise<void> {
    await this.sentEvents.close();
    await this.historyRecorder?.close();
    this.historyRecorder = undefined;
    const closing: Promise<void>[] = [this.flow.close()];
    if (this.brokerPromise) closing.push(this.brokerPromise.then((b) => b.close()));
    if (this.backendPromise) closing.push(this.backendPromise.then((b) => b.close()));
    this.brokerPromise = undefined;
    this.connectedBroker = undefined;
    this.brokerCreated = undefined;
    this.backendPromise = undefined;
    await Promise.allSettled(closing);
  }

  private build(
    name: string,
    args: unknown[],
    options: ApplyOptions,
    defaults: TaskOptions,
  ): BuiltMessage {
    return buildTaskMessage(name, args, options, defaults, {
      now: Date.now(),
      origin: this.origin,
      replyTo: this.oid,
      defaultQueue: this.config.defaultQueue,
    });
  }
}

/**
 * A broker that cannot hold a message until a time (`capabilities.delayedDelivery` false)
 * gets it at once: the message's `eta` header makes the worker hold it until due, as
 * Celery's worker holds ETA tasks.
 */
/** A call's own worker-side flow keys travel in a header (flow-headers.ts). */
function withFlowHeader(options: ApplyOptions, flow: FlowCallOptions): ApplyOptions {
  const value = flowHeaderOf(flow);
  return value === undefined
    ? options
    : { ...options, headers: { ...options.headers, [FLOW_HEADER]: value } };
}

function publishOptionsFor(broker: Broker, options: PublishOptions): PublishOptions {
  if (options.transaction !== undefined && broker.capabilities.transactionalPublish !== true)
    throw new TransactionalPublishUnsupportedError(broker.kind);
  if (options.deliverAt === undefined || broker.capabilities.delayedDelivery) return options;
  const { deliverAt: _due, ...now } = options;
  return now;
}

/**
 * Opens and connects a broker or backend. When connecting fails, one this app created is
 * closed, so its client does not go on reconnecting in the background; one the user
 * passed in is left to the user.
 */
async function connectOrClose<T extends { connect(): Promise<void>; close(): Promise<void> }>(
  open: () => Promise<T>,
  created: boolean,
): Promise<T> {
  const opened = await open();
  try {
    await opened.connect();
  } catch (error) {
    if (created) await opened.close().catch(() => undefined);
    throw error;
  }
  return opened;
}
