/**
 * Runs one delivery to its end: decode, refuse what cannot run (malformed, unknown,
 * expired, revoked, invalid arguments), defer what is not due, run the task, store its
 * state, retry on request, and only then settle the message (acks late). Every path
 * settles the delivery exactly once; a failure here must never stop the worker.
 */
import type { Broker, Delivery } from '../brokers/broker.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Celeriac } from '../app/celeriac.js';
import type { Task } from '../app/task.js';
import { Retry, runWithContext } from '../app/task-context.js';
import { decodeTaskMessage, type DecodedTaskMessage } from '../protocol/task-message.js';
import { formatTraceback, serializeError } from '../protocol/result-meta.js';
import type { JsonValue, ResultMeta } from '../protocol/types.js';
import {
  ArgumentValidationError,
  SoftTimeLimitExceededError,
  TaskRevokedError,
  TimeLimitExceededError,
  WorkerShutdownError,
} from '../errors.js';
import { buildMeta, celeryError } from './result-states.js';
import { backoffSeconds } from './backoff.js';
import { createTaskContext } from './task-runtime.js';
import type { Logger } from './logger.js';

/** A task run that has not settled yet, as the worker tracks it. */
export interface RunningTask {
  id: string;
  name: string;
  controller: AbortController;
  startedAt: number;
}

export interface ExecutorDeps {
  app: Celeriac;
  broker: Broker;
  backend: ResultBackend | undefined;
  logger: Logger;
  hostname: string;
  running: Map<string, RunningTask>;
  /** Ids revoked while this worker runs (fed by the backend's revoke notifications). */
  revoked: Set<string>;
}

/** Outcome of the checks made before a task may take a slot. */
export type Admission =
  | { kind: 'run'; decoded: DecodedTaskMessage; task: Task<unknown[], unknown>; args: unknown[] }
  | { kind: 'settled' };

const DUE_SLACK_MS = 5;

/** Everything that can be decided without running the task; settles the delivery when it refuses. */
export async function admit(delivery: Delivery, deps: ExecutorDeps): Promise<Admission> {
  const { logger } = deps;
  let decoded: DecodedTaskMessage;
  try {
    decoded = decodeTaskMessage(delivery.message);
  } catch (error) {
    const reason = (error as Error).message;
    // Log once the message is settled, so the line reports what happened, not an intent.
    await delivery.reject({ requeue: false, reason });
    logger.error({ queue: delivery.queue }, `Rejected a malformed message: ${reason}`);
    return { kind: 'settled' };
  }
  const base = { taskId: decoded.id, parentId: decoded.parentId, groupId: decoded.groupId };
  const task = deps.app.getTask(decoded.name);
  if (!task) {
    const reason = `unknown task "${decoded.name}" (registered: ${deps.app.taskNames().join(', ') || 'none'})`;
    await storeQuietly(deps, buildMeta(base, 'FAILURE', celeryError('NotRegistered', decoded.name)));
    await delivery.reject({ requeue: false, reason });
    logger.error({ id: decoded.id, queue: delivery.queue }, `Rejected task ${decoded.id}: ${reason}`);
    return { kind: 'settled' };
  }
  const now = Date.now();
  if (decoded.expires && decoded.expires.getTime() <= now) {
    await storeQuietly(deps, buildMeta(base, 'REVOKED', celeryError('TaskRevokedError', 'expired')));
    await delivery.ack();
    logger.info({ id: decoded.id }, `Discarded task ${decoded.name}[${decoded.id}]: expired at ${decoded.expires.toISOString()}`);
    return { kind: 'settled' };
  }
  if (await isRevoked(decoded.id, deps)) {
    await storeQuietly(deps, buildMeta(base, 'REVOKED', celeryError('TaskRevokedError', 'revoked')));
    await delivery.ack();
    logger.info({ id: decoded.id }, `Discarded revoked task ${decoded.name}[${decoded.id}]`);
    return { kind: 'settled' };
  }
  if (decoded.eta && decoded.eta.getTime() > now + DUE_SLACK_MS) {
    // Not due: hand it back to the broker's delay store rather than hold a slot for it.
    await delivery.defer(decoded.eta.getTime());
    logger.debug({ id: decoded.id }, `Deferred task ${decoded.name}[${decoded.id}] until ${decoded.eta.toISOString()}`);
    return { kind: 'settled' };
  }
  const args = await resolveArgs(decoded, task).catch((error: Error) => error);
  if (args instanceof Error) {
    const meta = buildMeta(base, 'FAILURE', serializeError(args), stackOf(args));
    await storeQuietly(deps, meta);
    await delivery.reject({ requeue: false, reason: args.message });
    logger.error({ id: decoded.id }, `Rejected task ${decoded.name}[${decoded.id}]: ${args.message}`);
    return { kind: 'settled' };
  }
  return { kind: 'run', decoded, task, args };
}

/**
 * Runs an admitted task and settles its delivery. Never throws. `runEnded` is called as soon
 * as the task's own code has finished, before its outcome is stored and its message
 * settled: the slot is the task's, and that bookkeeping (still awaited here, still counted
 * against the prefetch) need not keep the next task waiting.
 */
export async function execute(
  delivery: Delivery,
  admission: Extract<Admission, { kind: 'run' }>,
  deps: ExecutorDeps,
  runEnded: () => void = () => undefined,
): Promise<void> {
  const { decoded, task, args } = admission;
  const { app, logger } = deps;
  const options = task.options;
  const base = { taskId: decoded.id, parentId: decoded.parentId, groupId: decoded.groupId };
  const controller = new AbortController();
  const running: RunningTask = { id: decoded.id, name: decoded.name, controller, startedAt: Date.now() };
  deps.running.set(decoded.id, running);
  const expiresMs = app.config.resultExpiresMs;
  const ignoreResult = decoded.ignoreResult || options.ignoreResult === true;
  const timers: NodeJS.Timeout[] = [];
  try {
    if (options.trackStarted ?? app.config.trackStarted) {
      await deps.backend?.store(buildMeta(base, 'STARTED', { pid: process.pid, hostname: deps.hostname }), { expiresMs });
    }
    const softLimit = decoded.softTimeLimit ?? options.softTimeLimit;
    if (softLimit) {
      timers.push(setTimeout(() => controller.abort(new SoftTimeLimitExceededError(softLimit)), softLimit * 1000));
    }
    const context = createTaskContext({
      decoded,
      queue: delivery.queue,
      hostname: deps.hostname,
      redelivered: delivery.redelivered,
      signal: controller.signal,
      backend: deps.backend,
      expiresMs,
    });
    const hardLimit = decoded.timeLimit ?? options.timeLimit;
    const run = Promise.resolve().then(() => runWithContext(context, () => task.run.apply(context, args)));
    const result = hardLimit ? await withHardLimit(run, hardLimit, controller, timers) : await run;
    runEnded();
    if (!ignoreResult) {
      await deps.backend?.store(buildMeta(base, 'SUCCESS', (result ?? null) as JsonValue), { expiresMs });
    }
    await delivery.ack();
    logger.info({ id: decoded.id }, `Task ${decoded.name}[${decoded.id}] succeeded in ${Date.now() - running.startedAt} ms`);
  } catch (error) {
    runEnded();
    if (controller.signal.reason instanceof WorkerShutdownError) {
      // The worker is being forced down: the task did not finish, so it runs again elsewhere.
      logger.warn({ id: decoded.id }, `Task ${decoded.name}[${decoded.id}] interrupted by shutdown, requeued`);
      await delivery.reject({ requeue: true, reason: 'worker shutdown' }).catch(() => undefined);
      return;
    }
    // A task that honours its signal usually throws a generic AbortError: record why it
    // was aborted (soft time limit, revoke) instead.
    const reason: unknown = controller.signal.aborted && isAbortError(error) ? controller.signal.reason : error;
    await settleFailure(delivery, decoded, task, reason, deps).catch(async (settleError: Error) => {
      // Storing the outcome failed (backend down?): give the message back rather than lose it.
      logger.error({ id: decoded.id }, `Could not record the outcome of ${decoded.name}[${decoded.id}], requeued: ${settleError.message}`);
      await delivery.reject({ requeue: true, reason: settleError.message }).catch(() => undefined);
    });
  } finally {
    for (const timer of timers) clearTimeout(timer);
    deps.running.delete(decoded.id);
  }
}

async function settleFailure(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  error: unknown,
  deps: ExecutorDeps,
): Promise<void> {
  const { app, logger } = deps;
  const options = task.options;
  const base = { taskId: decoded.id, parentId: decoded.parentId, groupId: decoded.groupId };
  const expiresMs = app.config.resultExpiresMs;
  const explicit = error instanceof Retry ? error : undefined;
  const cause = explicit ? explicit.options.error : error;
  const wantsRetry = !(error instanceof TaskRevokedError) && (explicit !== undefined || matchesAutoretry(error, task));
  const maxRetries = explicit?.options.maxRetries ?? options.maxRetries ?? 3;
  if (wantsRetry && decoded.retries < maxRetries) {
    const countdown =
      explicit?.options.countdown ??
      (explicit?.options.eta
        ? Math.max(0, (explicit.options.eta.getTime() - Date.now()) / 1000)
        : backoffSeconds(decoded.retries, {
            base: options.retryBackoff ?? 1,
            max: options.retryBackoffMax ?? 600,
            jitter: options.retryJitter ?? true,
          }));
    // Publish the retry before acking the current message: a crash in between runs the
    // task once more, never zero times.
    await app.sendTask(decoded.name, decoded.args, {
      taskId: decoded.id,
      kwargs: decoded.kwargs,
      countdown,
      retries: decoded.retries + 1,
      parentId: decoded.id,
      rootId: decoded.rootId ?? decoded.id,
      groupId: decoded.groupId ?? undefined,
      groupIndex: decoded.groupIndex ?? undefined,
      queue: delivery.queue,
      priority: decoded.properties.priority,
      ignoreResult: decoded.ignoreResult,
    }, options);
    const reason = cause ?? new Error('Retry requested');
    await deps.backend?.store(buildMeta(base, 'RETRY', serializeError(reason), stackOf(reason)), { expiresMs });
    await delivery.ack();
    logger.warn(
      { id: decoded.id },
      `Task ${decoded.name}[${decoded.id}] retry ${decoded.retries + 1}/${maxRetries} in ${countdown.toFixed(2)} s: ${messageOf(reason)}`,
    );
    return;
  }
  const failure = explicit ? (cause ?? new Error(`Max retries (${maxRetries}) exceeded`)) : error;
  const state = failure instanceof TaskRevokedError ? 'REVOKED' : 'FAILURE';
  await deps.backend?.store(buildMeta(base, state, serializeError(failure), stackOf(failure)), { expiresMs });
  await delivery.ack();
  logger.error({ id: decoded.id }, `Task ${decoded.name}[${decoded.id}] raised ${nameOf(failure)}: ${messageOf(failure)}`);
}

function withHardLimit<T>(run: Promise<T>, seconds: number, controller: AbortController, timers: NodeJS.Timeout[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    timers.push(
      setTimeout(() => {
        const error = new TimeLimitExceededError(seconds);
        controller.abort(error);
        reject(error);
      }, seconds * 1000),
    );
    run.then(resolve, reject);
  });
}

async function resolveArgs(decoded: DecodedTaskMessage, task: Task<unknown[], unknown>): Promise<unknown[]> {
  let args: unknown[] = decoded.args;
  const kwargNames = Object.keys(decoded.kwargs);
  if (kwargNames.length > 0) {
    const params = task.options.params;
    if (!params) {
      throw new TypeError(
        `got keyword arguments (${kwargNames.join(', ')}) but the task declares no \`params\` to place them`,
      );
    }
    args = [...args];
    for (const name of kwargNames) {
      const index = params.indexOf(name);
      if (index === -1) throw new TypeError(`got an unexpected keyword argument "${name}"`);
      if (index < decoded.args.length) throw new TypeError(`got multiple values for argument "${name}"`);
      args[index] = decoded.kwargs[name];
    }
  }
  const schema = task.options.argsSchema;
  if (schema) {
    const outcome = await schema['~standard'].validate(args);
    if (outcome.issues) throw new ArgumentValidationError(decoded.name, outcome.issues);
    args = outcome.value;
  }
  return args;
}

async function isRevoked(id: string, deps: ExecutorDeps): Promise<boolean> {
  if (deps.revoked.has(id)) return true;
  if (!deps.backend) return false;
  return (await deps.backend.revoked([id])).has(id);
}

function matchesAutoretry(error: unknown, task: Task<unknown[], unknown>): boolean {
  const matchers = task.options.autoretryFor;
  if (!matchers?.length) return false;
  return matchers.some((matcher) =>
    matcher.prototype instanceof Error || matcher === Error
      ? error instanceof (matcher as new () => Error)
      : (matcher as (error: unknown) => boolean)(error),
  );
}

/** Stores a meta where a failure to store must not stop the rejection that follows. */
async function storeQuietly(deps: ExecutorDeps, meta: ResultMeta): Promise<void> {
  try {
    await deps.backend?.store(meta, { expiresMs: deps.app.config.resultExpiresMs });
  } catch (error) {
    deps.logger.warn({ id: meta.task_id }, `Could not store state ${meta.status}: ${(error as Error).message}`);
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeLimitExceeded');
}

/** A Python-shaped traceback, so Python clients with remote tracebacks can parse it. */
function stackOf(error: unknown): string | null {
  return error instanceof Error ? formatTraceback(error) : null;
}
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
