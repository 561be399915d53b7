/**
 * What runs inside one thread or child process of a `threads`/`processes` pool: loads the
 * app module (the one the worker loaded with -A), then runs one task at a time as the
 * worker asks, and reports each outcome. It never touches the broker or the result
 * backend: the worker keeps the consumer, acks, leases and result writes, and stores
 * `progress()`/`updateState()` when a task here asks.
 */
import { parentPort, Worker } from 'node:worker_threads';
import v8 from 'node:v8';
import { loadApp } from '../../app/load-app.js';
import type { Celeriac } from '../../app/celeriac.js';
import type { Task } from '../../app/task.js';
import {
  Retry,
  runWithContext,
  type Progress,
  type RetryOptions,
  type TaskContext,
} from '../../app/task-context.js';
import type { JsonObject, JsonValue } from '../../protocol/types.js';
import { matchesAutoretry } from '../autoretry.js';
import { serializeError } from '../../protocol/result-meta.js';
import {
  ResultNotStorableError,
  SoftTimeLimitExceededError,
  TaskNotRegisteredError,
  TaskRevokedError,
  WorkerShutdownError,
} from '../../errors.js';
import type {
  AbortKind,
  FromMember,
  MemberFailure,
  MemberSetup,
  RunFacts,
  ToMember,
} from './pool-messages.js';

interface Channel {
  send(message: FromMember): void;
  onMessage(listener: (message: ToMember) => void): void;
}

/** Entry point, called by the bootstrap code the pool starts the thread or child with. */
export async function startMember(setup: MemberSetup, mode: 'thread' | 'process'): Promise<void> {
  const channel = mode === 'thread' ? threadChannel() : processChannel();
  let app: Celeriac;
  try {
    app = await loadApp(setup.appModule);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    channel.send({ type: 'load-failed', message: e.message, stack: e.stack ?? '' });
    return;
  }
  const member = new Member(app, channel, setup);
  channel.onMessage((message) => member.receive(message));
  channel.send({ type: 'ready', pid: process.pid, tasks: app.taskNames() });
}

class Member {
  private current: { job: number; context: MemberContext } | undefined;
  private readonly pendingStores = new Map<number, (error: string | null) => void>();
  private seq = 0;

  constructor(
    private readonly app: Celeriac,
    private readonly channel: Channel,
    private readonly setup: MemberSetup,
  ) {}

  receive(message: ToMember): void {
    switch (message.type) {
      case 'run':
        void this.run(message.job, message.facts, message.args);
        return;
      case 'abort':
        if (this.current?.job === message.job)
          this.current.context.abort(abortError(message.reason, this.current.context.id));
        return;
      case 'stored': {
        const resolve = this.pendingStores.get(message.seq);
        this.pendingStores.delete(message.seq);
        resolve?.(message.error);
        return;
      }
    }
  }

  /** Asks the worker to store a state for the running task; resolves once it is stored. */
  store(job: number, state: string, meta: JsonObject): Promise<void> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pendingStores.set(seq, (error) =>
        error === null ? resolve() : reject(new Error(error)),
      );
      this.channel.send({ type: 'state', job, seq, state, meta });
    });
  }

  private async run(job: number, facts: RunFacts, args: unknown[]): Promise<void> {
    const context = new MemberContext(facts, this, job);
    this.current = { job, context };
    const task = this.app.getTask(facts.name);
    let outcome: FromMember;
    try {
      if (!task) throw new TaskNotRegisteredError(facts.name);
      const result: unknown = await runWithContext(context, callTask, context, task, args);
      outcome = { type: 'done', job, ok: true, result, memoryKiB: 0 };
    } catch (error) {
      outcome = { type: 'done', job, ok: false, failure: failureOf(error, task), memoryKiB: 0 };
    }
    this.current = undefined;
    if (this.setup.measureMemory) outcome.memoryKiB = memoryKiB();
    try {
      this.channel.send(outcome);
    } catch (error) {
      // The result cannot cross (a function, a symbol): it could never be stored as JSON either.
      const failure = failureOf(new ResultNotStorableError(facts.name, error), task);
      this.channel.send({ type: 'done', job, ok: false, failure, memoryKiB: outcome.memoryKiB });
    }
  }
}

/** The TaskContext of a run inside a member: facts from the message, states sent to the worker. */
class MemberContext implements TaskContext {
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private isAborted = false;

  constructor(
    private readonly facts: RunFacts,
    private readonly member: Member,
    private readonly job: number,
  ) {}

  get id(): string {
    return this.facts.id;
  }
  get name(): string {
    return this.facts.name;
  }
  get retries(): number {
    return this.facts.retries;
  }
  get args(): readonly unknown[] {
    return this.facts.args;
  }
  get kwargs(): Readonly<Record<string, unknown>> {
    return this.facts.kwargs;
  }
  get queue(): string {
    return this.facts.queue;
  }
  get rootId(): string | null {
    return this.facts.rootId;
  }
  get parentId(): string | null {
    return this.facts.parentId;
  }
  get groupId(): string | null {
    return this.facts.groupId;
  }
  get hostname(): string {
    return this.facts.hostname;
  }
  get redelivered(): boolean {
    return this.facts.redelivered;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  get updateState(): (state: string, meta?: JsonObject) => Promise<void> {
    return (state, meta = {}) => this.member.store(this.job, state, meta);
  }

  get progress(): (
    current: number,
    total?: number,
    info?: Record<string, unknown>,
  ) => Promise<void> {
    return (current, total, info = {}) => {
      const progress: Progress = { ...info, current };
      if (total !== undefined) {
        progress.total = total;
        progress.percent = total > 0 ? Math.round((current / total) * 1000) / 10 : 100;
      }
      return this.member.store(
        this.job,
        'PROGRESS',
        progress as unknown as Record<string, JsonValue>,
      );
    };
  }

  get retry(): (options?: RetryOptions) => never {
    return (options = {}) => {
      throw new Retry(options);
    };
  }
}

function callTask(context: TaskContext, task: Task<unknown[], unknown>, args: unknown[]): unknown {
  return task.run.apply(context, args);
}

function abortError(reason: AbortKind, taskId: string): Error {
  switch (reason.kind) {
    case 'soft':
      return new SoftTimeLimitExceededError(reason.seconds);
    case 'revoked':
      return new TaskRevokedError(taskId);
    case 'shutdown':
      return new WorkerShutdownError();
    case 'other':
      return new Error(reason.message);
  }
}

/** A failure as the worker will store it, decided here where the task's error classes live. */
function failureOf(error: unknown, task: Task<unknown[], unknown> | undefined): MemberFailure {
  const stack = error instanceof Error && typeof error.stack === 'string' ? error.stack : '';
  if (error instanceof Retry) {
    const { countdown, eta, maxRetries, error: cause } = error.options;
    const retry: NonNullable<MemberFailure['retry']> = {};
    if (countdown !== undefined) retry.countdown = countdown;
    if (eta !== undefined) retry.eta = eta;
    if (maxRetries !== undefined) retry.maxRetries = maxRetries;
    if (cause !== undefined) retry.error = failureOf(cause, task);
    return { serialized: serializeError(error), stack, autoretry: false, retry };
  }
  return {
    serialized: serializeError(error),
    stack,
    autoretry: task ? matchesAutoretry(error, task) : false,
    retry: null,
  };
}

/** A child's resident memory; a thread's own V8 heap (threads share the process's RSS). */
function memoryKiB(): number {
  if (parentPort) {
    const heap = v8.getHeapStatistics();
    return Math.round((heap.total_heap_size + heap.malloced_memory) / 1024);
  }
  return Math.round(process.memoryUsage.rss() / 1024);
}

function threadChannel(): Channel {
  const port = parentPort;
  if (!port) throw new Error('startMember(thread) outside a worker thread');
  return {
    send: (message) => port.postMessage(message),
    onMessage: (listener) => port.on('message', listener),
  };
}

function processChannel(): Channel {
  const send = process.send?.bind(process);
  if (!send) throw new Error('startMember(process) without an IPC channel');
  // The worker went away (it exited, or was killed with SIGKILL): so does this child, even
  // in the middle of a busy loop, which no event on this thread could interrupt.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C and Ctrl-\ in a terminal signal the whole process group: the worker decides
  // (warm, soft or cold shutdown) and tells its children; they must not die on their own.
  // SIGTERM is left as is: it is how the worker terminates a revoked task's child.
  process.on('SIGINT', () => undefined);
  process.on('SIGQUIT', () => undefined);
  watchParent(process.ppid);
  return {
    send: (message) => {
      send(message);
    },
    onMessage: (listener) => process.on('message', listener as (message: unknown) => void),
  };
}

/**
 * A small thread that kills this child once its parent is gone (Linux's PR_SET_PDEATHSIG,
 * which Celery's billiard sets, is not reachable from Node): a task spinning in `while
 * (true) {}` blocks this process's main thread, not this one.
 */
function watchParent(ppid: number): void {
  const watcher = new Worker(
    // import(), not require: this eval script may run as an ES module (the child's --input-type).
    `import('node:worker_threads').then(({ workerData }) => setInterval(() => {
       if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL');
     }, 250));`,
    { eval: true, workerData: ppid, resourceLimits: { maxOldGenerationSizeMb: 8 } },
  );
  watcher.unref();
}
