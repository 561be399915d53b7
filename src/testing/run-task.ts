/**
 * `runTask`: runs one task's function inline, in the caller's process and turn, with the
 * same TaskContext a worker gives it (ids, signal, progress, updateState, retry), and the
 * arguments checked as a worker checks them (keyword placement, `argsSchema`). No broker,
 * no backend, no worker: for unit tests. It never retries: a `ctx.retry()` or an error
 * reaches the caller as thrown.
 */
import { randomUUID } from 'node:crypto';
import type { Task } from '../app/task.js';
import { runWithContext } from '../app/task-context.js';
import { buildTaskMessage } from '../app/build-message.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import type { ResultMeta } from '../protocol/types.js';
import type { StoreOptions } from '../backends/backend.js';
import type { Delivery } from '../brokers/broker.js';
import { KeyValueBackend } from '../backends/key-value/key-value-backend.js';
import { MemoryKeyValueStore } from '../backends/memory/memory-key-value-store.js';
import { TaskRuntime } from '../worker/task-runtime.js';
import { resolveArgs } from '../worker/execute.js';

export interface RunTaskOptions {
  /** The id the task sees as `ctx.id`. @default a random UUID */
  id?: string;
  /** Keyword arguments, placed by the task's `params` as a worker does. @default {} */
  kwargs?: Record<string, unknown>;
  /** What `ctx.retries` reports, to test a later attempt. @default 0 */
  retries?: number;
  /** What `ctx.queue` reports. @default the task's queue, else 'celery' */
  queue?: string;
  /** What `ctx.hostname` reports. @default 'celeriac@testing' */
  hostname?: string;
  /** What `ctx.redelivered` reports. @default false */
  redelivered?: boolean;
  /** Aborting it fires the task's `ctx.signal` with the same reason, as a revoke would. */
  signal?: AbortSignal;
  /** Called with each state the task records (`ctx.progress`, `ctx.updateState`), in order. */
  onState?: (meta: ResultMeta) => void;
}

/** A backend that hands every stored state to the test; nothing else reaches it. */
class StateRecorder extends KeyValueBackend {
  constructor(private readonly onState: ((meta: ResultMeta) => void) | undefined) {
    super('memory', new MemoryKeyValueStore(`celeriac-run-task-${randomUUID()}`));
  }

  override async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    this.onState?.(meta);
    await super.store(meta, options);
  }
}

/**
 * Runs `task` with `args` now and resolves with its result as a caller reads it (through
 * JSON, as the worker stores it: `undefined` becomes `null`, a `Date` its ISO string).
 * Rejects with what the task threw, or with the argument error a worker would record.
 * @example
 *   const result = await runTask(sendEmail, ['ada@example.com', 'Welcome']);
 *   expect(result).toEqual({ sent: true });
 */
export async function runTask<TArgs extends unknown[], TResult>(
  task: Task<TArgs, TResult>,
  args: NoInfer<TArgs>,
  options: RunTaskOptions = {},
): Promise<TResult> {
  const queue = options.queue ?? task.options.queue ?? 'celery';
  const built = buildTaskMessage(
    task.name,
    args,
    {
      taskId: options.id ?? randomUUID(),
      kwargs: options.kwargs ?? {},
      retries: options.retries ?? 0,
      queue,
    },
    task.options,
    {
      now: Date.now(),
      origin: 'celeriac-testing',
      replyTo: 'celeriac-testing',
      defaultQueue: queue,
    },
  );
  const decoded = decodeTaskMessage(built.message);
  const anyTask = task as unknown as Task<unknown[], unknown>;
  const validArgs = await resolveArgs(decoded, anyTask);
  const recorder = new StateRecorder(options.onState);
  await recorder.connect();
  // No broker here: the task's message is this inline call, settled by nothing.
  const delivery: Delivery = {
    message: built.message,
    queue,
    redelivered: options.redelivered ?? false,
    ack: () => Promise.resolve(),
    reject: () => Promise.resolve(),
    defer: () => Promise.resolve(),
    release: () => undefined,
  };
  const runtime = new TaskRuntime(
    decoded,
    delivery,
    options.hostname ?? 'celeriac@testing',
    recorder,
    {
      expiresMs: 60_000,
    },
  );
  const onAbort = () => runtime.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await runWithContext(runtime, () => anyTask.run.apply(runtime, validArgs));
    return JSON.parse(JSON.stringify(result ?? null)) as TResult;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await recorder.close();
  }
}
