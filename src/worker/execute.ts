/**
 * Runs one delivery to its end: decode, refuse what cannot run (malformed, unknown,
 * expired, revoked, invalid arguments), defer what is not due, run the task, store its
 * state, retry on request, and only then settle the message (acks late). Every path
 * settles the delivery exactly once; a failure here must never stop the worker.
 */
import type { Broker, Delivery } from '../brokers/broker.js';
import type { ResultBackend, StoreOptions } from '../backends/backend.js';
import type { Celeriac } from '../app/celeriac.js';
import type { Task } from '../app/task.js';
import { Retry } from '../app/task-context.js';
import { decodeTaskMessage, type DecodedTaskMessage } from '../protocol/task-message.js';
import { formatTraceback, jsTypeOf, serializeError } from '../protocol/result-meta.js';
import { MalformedMessageError } from '../protocol/errors.js';
import type { JsonValue, ResultMeta, TaskState } from '../protocol/types.js';
import {
  ArgumentValidationError,
  ResultNotStorableError,
  ResultValidationError,
  RetryNotSentError,
  SoftTimeLimitExceededError,
  TaskNotRegisteredError,
  TaskRevokedError,
  TimeLimitExceededError,
  UnsupportedCanvasError,
  WorkerShutdownError,
} from '../errors.js';
import { builtinTask } from './builtin-tasks.js';
import {
  afterFailure,
  afterSuccess,
  DISPATCH_HEADER,
  firstDispatch,
  hasWorkflow,
  successChildren,
  workflowProblem,
} from './canvas-followups.js';
import { celeryError, extendedFields, metaFor } from './result-states.js';
import { formatCeleryDate } from '../protocol/time.js';
import { backoffSeconds } from './backoff.js';
import { matchesAutoretry } from './autoretry.js';
import { TaskRuntime } from './task-runtime.js';
import type { Logger } from '../logger.js';
import type { StandardSchemaResult, StandardSchemaV1 } from '../app/standard-schema.js';
import type { TaskEventListener } from './events/task-events.js';
import type { TaskOptions } from '../app/task-options.js';
import type { TaskPool } from './pools/pool.js';
import { PoolTaskError } from './pools/child-pool.js';

/** A task run that has not settled yet, as the worker tracks it. */
export interface RunningTask {
  readonly id: string;
  readonly name: string;
  readonly startedAt: number;
  /** What `inspect active` reports (TaskRuntime has them). */
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  readonly queue?: string;
  readonly redelivered?: boolean;
  /** Fires the task's abort signal with `reason` (soft time limit, revoke, shutdown). */
  abort(reason: unknown): void;
  /**
   * Forced shutdown of a task that did not end when aborted: its message goes back to the
   * queue now, and whatever the run does later is not recorded.
   */
  giveBack(): Promise<void>;
}

export interface ExecutorDeps {
  app: Celeriac;
  broker: Broker;
  backend: ResultBackend | undefined;
  logger: Logger;
  /** Whether the logger writes info lines: the line for every success is only built then. */
  logsInfo: boolean;
  /** How results are stored (the app's result expiry), one object for every store. */
  storeOptions: { expiresMs: number };
  hostname: string;
  /** The app's `resultExtended`: store name, args, kwargs, worker, retries and queue with each state. */
  resultExtended: boolean;
  running: Map<string, RunningTask>;
  /** Ids revoked while this worker runs (fed by the backend's revoke notifications). */
  revoked: Set<string>;
  /**
   * Keeps a delivery that is not due, unsettled and outside the running slots, and hands
   * it back to the worker at `dueAt` (the broker has no delayed delivery to defer it to).
   */
  hold(delivery: Delivery, dueAt: number): void;
  /** What runs the task: this event loop (async), a thread or a child process. */
  pool: TaskPool;
  /** The worker's limits, in seconds, for tasks whose message and options set none. */
  softTimeLimit: number | undefined;
  timeLimit: number | undefined;
  /** Celery's task events (`-E`); undefined when they are off, the common case. */
  events?: TaskEventListener | undefined;
}

/** Outcome of the checks made before a task may take a slot. */
export type Admission =
  | { kind: 'run'; decoded: DecodedTaskMessage; task: Task<unknown[], unknown>; args: unknown[] }
  | { kind: 'settled' };

const DUE_SLACK_MS = 5;
const SETTLED: Admission = { kind: 'settled' };

/**
 * Everything that can be decided without running the task; settles the delivery when it
 * refuses. Answers without a promise when nothing needs I/O (the common case: a known,
 * due, unrevoked task whose arguments need no async validation).
 */
export function admit(delivery: Delivery, deps: ExecutorDeps): Admission | Promise<Admission> {
  let decoded: DecodedTaskMessage;
  try {
    decoded = decodeTaskMessage(delivery.message);
  } catch (error) {
    return refuseMalformed(delivery, deps, error as Error);
  }
  const task = deps.app.getTask(decoded.name) ?? builtinTask(deps.app, decoded.name);
  if (!task) return refuseUnknown(delivery, decoded, deps);
  if (hasWorkflow(decoded.embed)) {
    const problem = workflowProblem(decoded, deps.backend);
    if (problem !== null) return refuseWorkflow(delivery, decoded, problem, deps);
  }
  const dispatch = decoded.headers[DISPATCH_HEADER];
  if (dispatch !== undefined) return admitDispatched(delivery, decoded, task, deps, dispatch);
  return admitLive(delivery, decoded, task, deps);
}

/** The checks of a message that is not a duplicate: expiry, revocation, due time, arguments. */
function admitLive(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  deps: ExecutorDeps,
): Admission | Promise<Admission> {
  if (delivery.expired === true || (decoded.expires && decoded.expires.getTime() <= Date.now()))
    return discardExpired(delivery, decoded, decoded.expires ?? new Date(), deps);
  const revoked =
    deps.revoked.has(decoded.id) || (deps.backend ? deps.backend.isRevoked(decoded.id) : false);
  if (revoked instanceof Promise) return admitAfterAsking(delivery, decoded, task, deps, revoked);
  if (revoked) return discardRevoked(delivery, decoded, deps);
  return admitUnrevoked(delivery, decoded, task, deps);
}

/**
 * A chord body or errback sent with a token (canvas-followups.ts stampDispatch): runs when
 * its token is the first to reach a worker for its task id; a message of a second send (its
 * sender died before clearing the join, and it was sent again) is acked unrun.
 */
async function admitDispatched(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  deps: ExecutorDeps,
  token: JsonValue,
): Promise<Admission> {
  if (typeof token === 'string' && !(await firstDispatch(decoded.id, token, deps.backend))) {
    await delivery.ack();
    deps.logger.warn(
      { id: decoded.id },
      `Dropped a second send of ${decoded.name}[${decoded.id}] (a chord's body or errback): an earlier send runs it`,
    );
    return SETTLED;
  }
  return admitLive(delivery, decoded, task, deps);
}

async function admitAfterAsking(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  deps: ExecutorDeps,
  asked: Promise<boolean>,
): Promise<Admission> {
  return (await asked)
    ? discardRevoked(delivery, decoded, deps)
    : admitUnrevoked(delivery, decoded, task, deps);
}

function admitUnrevoked(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  deps: ExecutorDeps,
): Admission | Promise<Admission> {
  if (decoded.eta && decoded.eta.getTime() > Date.now() + DUE_SLACK_MS)
    return deferUntilDue(delivery, decoded, decoded.eta, deps);
  let args: unknown[] | Promise<unknown[]>;
  try {
    args = resolveArgs(decoded, task);
  } catch (error) {
    return refuseArgs(delivery, decoded, error as Error, deps);
  }
  if (!(args instanceof Promise)) return { kind: 'run', decoded, task, args };
  return args.then(
    (valid): Admission => ({ kind: 'run', decoded, task, args: valid }),
    (error: Error) => refuseArgs(delivery, decoded, error, deps),
  );
}

async function refuseMalformed(
  delivery: Delivery,
  deps: ExecutorDeps,
  error: Error,
): Promise<Admission> {
  const reason = error instanceof MalformedMessageError ? error.reason : error.message;
  // A client may be waiting on the id: when the headers name one, tell it why.
  const id = readableId(delivery, error);
  if (id !== null)
    await storeQuietly(
      deps,
      routeOfMessage(id, delivery),
      metaFor({ id }, 'FAILURE', serializeError(error), null),
    );
  // Log once the message is settled, so the line reports what happened, not an intent.
  await delivery.reject({ requeue: false, reason });
  if (id !== null) deps.events?.rejected(id, false);
  deps.logger.error(
    { queue: delivery.queue },
    `Rejected a malformed message${id === null ? '' : ` [${id}]`} (${rejectedTo(deps)}): ${reason}`,
  );
  return SETTLED;
}

/** The task id of a message that could not be decoded, when its headers still tell it. */
function readableId(delivery: Delivery, error: Error): string | null {
  if (error instanceof MalformedMessageError && error.taskId !== null && error.taskId !== '')
    return error.taskId;
  const headers = delivery.message.headers as Record<string, unknown> | null | undefined;
  const id = typeof headers === 'object' && headers !== null ? headers.id : undefined;
  return typeof id === 'string' && id !== '' ? id : null;
}

async function refuseUnknown(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  deps: ExecutorDeps,
): Promise<Admission> {
  const reason = `unknown task "${decoded.name}" (registered: ${deps.app.taskNames().join(', ') || 'none'})`;
  // Stored as Celery's NotRegistered; AsyncResult.get() raises it as TaskNotRegisteredError.
  const failure = serializeError(new TaskNotRegisteredError(decoded.name));
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'FAILURE', failure));
  await workflowAfterRefusal(decoded, 'FAILURE', failure, deps);
  await delivery.reject({ requeue: false, reason });
  deps.events?.failed(decoded.id, new TaskNotRegisteredError(decoded.name));
  deps.logger.error(
    { id: decoded.id, queue: delivery.queue },
    `Rejected task ${decoded.id} (${rejectedTo(deps)}): ${reason}`,
  );
  return SETTLED;
}

async function discardExpired(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  expires: Date,
  deps: ExecutorDeps,
): Promise<Admission> {
  const failure = celeryError('TaskRevokedError', 'expired');
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'REVOKED', failure));
  await workflowAfterRefusal(decoded, 'REVOKED', failure, deps);
  await delivery.ack();
  deps.events?.revoked(decoded.id, { terminated: false, expired: true });
  deps.logger.info(
    { id: decoded.id },
    `Discarded task ${decoded.name}[${decoded.id}]: expired at ${expires.toISOString()}`,
  );
  return SETTLED;
}

async function discardRevoked(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  deps: ExecutorDeps,
): Promise<Admission> {
  const failure = celeryError('TaskRevokedError', 'revoked');
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'REVOKED', failure));
  await workflowAfterRefusal(decoded, 'REVOKED', failure, deps);
  await delivery.ack();
  deps.events?.revoked(decoded.id, { terminated: false, expired: false });
  deps.logger.info({ id: decoded.id }, `Discarded revoked task ${decoded.name}[${decoded.id}]`);
  return SETTLED;
}

async function deferUntilDue(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  eta: Date,
  deps: ExecutorDeps,
): Promise<Admission> {
  // Not due: hand it back to the broker's delay store rather than hold a slot for it; a
  // broker without one gets it held in memory until due (as Celery's worker holds ETA tasks).
  if (!deps.broker.capabilities.delayedDelivery) {
    deps.hold(delivery, eta.getTime());
    deps.logger.debug(
      { id: decoded.id },
      `Holding task ${decoded.name}[${decoded.id}] until ${eta.toISOString()}`,
    );
    return SETTLED;
  }
  await delivery.defer(eta.getTime());
  deps.logger.debug(
    { id: decoded.id },
    `Deferred task ${decoded.name}[${decoded.id}] until ${eta.toISOString()}`,
  );
  return SETTLED;
}

/**
 * Flow control gave a debounced task its last call's arguments: the admission with them,
 * validated as the message's own were (refused, and settled, when they fail).
 */
export async function admitWithArgs(
  delivery: Delivery,
  admission: Extract<Admission, { kind: 'run' }>,
  args: unknown[],
  deps: ExecutorDeps,
): Promise<Admission> {
  const decoded: DecodedTaskMessage = {
    ...admission.decoded,
    args: args as JsonValue[],
    kwargs: {},
  };
  try {
    return { ...admission, decoded, args: await resolveArgs(decoded, admission.task) };
  } catch (error) {
    return refuseArgs(delivery, decoded, error as Error, deps);
  }
}

/** A throttle or singleton in `drop` mode refused the run: REVOKED with the reason, acked. */
export async function discardDropped(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  reason: 'throttled' | 'singleton',
  deps: ExecutorDeps,
): Promise<void> {
  const failure = celeryError('TaskRevokedError', reason);
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'REVOKED', failure));
  await workflowAfterRefusal(decoded, 'REVOKED', failure, deps);
  await delivery.ack();
  deps.events?.revoked(decoded.id, { terminated: false, expired: false });
  deps.logger.info(
    { id: decoded.id },
    `Dropped task ${decoded.name}[${decoded.id}]: ${reason === 'throttled' ? 'throttled (one run per period)' : 'a run of its singleton key is running'}`,
  );
}

async function refuseArgs(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  error: Error,
  deps: ExecutorDeps,
): Promise<Admission> {
  const failure = serializeError(error);
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'FAILURE', failure, stackOf(error)));
  await workflowAfterRefusal(decoded, 'FAILURE', failure, deps);
  await delivery.reject({ requeue: false, reason: error.message });
  deps.events?.failed(decoded.id, error);
  deps.logger.error(
    { id: decoded.id },
    `Rejected task ${decoded.name}[${decoded.id}] (${rejectedTo(deps)}): ${error.message}`,
  );
  return SETTLED;
}

/**
 * A workflow this worker cannot carry out (an unknown signature type, a chord on a backend
 * without chord counters): refused before the task runs, loudly, never half-run.
 */
async function refuseWorkflow(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  problem: string,
  deps: ExecutorDeps,
): Promise<Admission> {
  const error = new UnsupportedCanvasError(problem);
  await storeQuietly(deps, decoded, stateMeta(deps, decoded, 'FAILURE', serializeError(error)));
  await delivery.reject({ requeue: false, reason: error.message });
  deps.logger.error(
    { id: decoded.id },
    `Rejected task ${decoded.name}[${decoded.id}] (${rejectedTo(deps)}): ${error.message}`,
  );
  return SETTLED;
}

/** A refused task's workflow still settles: its chord slot, its chain, its errbacks. */
async function workflowAfterRefusal(
  decoded: DecodedTaskMessage,
  state: 'FAILURE' | 'REVOKED',
  failure: JsonValue,
  deps: ExecutorDeps,
): Promise<void> {
  if (!hasWorkflow(decoded.embed)) return;
  try {
    await afterFailure(decoded, state, failure, deps);
  } catch (error) {
    deps.logger.error(
      { id: decoded.id },
      `Could not settle the workflow of ${decoded.name}[${decoded.id}]: ${(error as Error).message}`,
    );
  }
}

/**
 * Sends what a succeeded task owes its workflow; false (the message given back, so the task
 * runs again rather than its workflow stopping here) when that cannot be sent.
 */
async function followUpSuccess(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  result: unknown,
  deps: ExecutorDeps,
): Promise<boolean> {
  try {
    await afterSuccess(decoded, (result ?? null) as JsonValue, deps);
    return true;
  } catch (error) {
    deps.logger.error(
      { id: decoded.id },
      `Could not send the workflow steps after ${decoded.name}[${decoded.id}], requeued: ${(error as Error).message}`,
    );
    await delivery
      .reject({ requeue: true, reason: (error as Error).message })
      .catch(() => undefined);
    return false;
  }
}

/**
 * Runs an admitted task and settles its delivery. Never throws. `runEnded` is called as soon
 * as the task's own code has finished, before its outcome is stored and its message
 * settled: the slot is the task's, and that bookkeeping (still awaited here) need not keep
 * the next task waiting.
 */
export async function execute(
  delivery: Delivery,
  admission: Extract<Admission, { kind: 'run' }>,
  deps: ExecutorDeps,
  slot: RunEndHook = NO_HOOK,
): Promise<void> {
  // No closures in here: one would make every call allocate a context for what it captures.
  const { decoded, task, args } = admission;
  const options = task.options;
  const storeOptions = storeOptionsFor(decoded, deps);
  const runtime = new TaskRuntime(
    decoded,
    delivery,
    deps.hostname,
    deps.backend,
    storeOptions,
    deps.resultExtended,
  );
  deps.running.set(decoded.id, runtime);
  if (deps.logsInfo) logStart(decoded, delivery, deps);
  deps.events?.started(decoded.id);
  const ignoreResult = decoded.ignoreResult || options.ignoreResult === true;
  let softTimer: NodeJS.Timeout | undefined;
  let hardTimer: NodeJS.Timeout | undefined;
  try {
    if (options.trackStarted ?? deps.app.config.trackStarted) {
      await deps.backend?.store(
        stateMeta(deps, decoded, 'STARTED', { pid: process.pid, hostname: deps.hostname }),
        storeOptions,
      );
    }
    const softLimit = decoded.softTimeLimit ?? options.softTimeLimit ?? deps.softTimeLimit;
    if (softLimit) softTimer = setTimeout(abortSoftly, softLimit * 1000, runtime, softLimit);
    // Called here, inside the try: a task that throws at once fails like one that rejects.
    const run = deps.pool.run(runtime, task, args);
    const hardLimit = decoded.timeLimit ?? options.timeLimit ?? deps.timeLimit;
    let result: unknown;
    if (hardLimit) {
      const limited = withHardLimit(Promise.resolve(run), hardLimit, runtime, deps.pool);
      hardTimer = limited.timer;
      result = await limited.outcome;
    } else {
      result = await run;
    }
    if (options.resultSchema)
      result = await validResult(decoded.name, options.resultSchema, result);
    slot.runEnded();
    const workflow = hasWorkflow(decoded.embed);
    // Given back at a forced shutdown meanwhile: the message is back in the queue.
    if (!runtime.finish()) return;
    const backend = deps.backend;
    // Nothing to send between the store and the ack: one call where the backend can
    // (storeAndAck), e.g. one statement on a PostgreSQL broker and backend.
    let acked = false;
    if (!ignoreResult && backend) {
      // Awaited here, not in a helper: each extra await between the store and the ack
      // moves the ack past the broker's next fetch, which then needs a call of its own
      // (Redis at concurrency 1: 0.40 fetch calls per task instead of 0.33, ~10% slower).
      try {
        if (workflow)
          await backend.store(
            withChildren(
              stateMeta(deps, decoded, 'SUCCESS', (result ?? null) as JsonValue),
              decoded,
            ),
            storeOptions,
          );
        else if (backend.storeAndAck) {
          await backend.storeAndAck(
            stateMeta(deps, decoded, 'SUCCESS', (result ?? null) as JsonValue),
            storeOptions,
            delivery,
          );
          acked = true;
        } else
          await backend.store(
            stateMeta(deps, decoded, 'SUCCESS', (result ?? null) as JsonValue),
            storeOptions,
          );
      } catch (error) {
        throw notStorable(decoded.name, error);
      }
    }
    if (workflow && !(await followUpSuccess(delivery, decoded, result, deps))) return;
    if (!acked) await delivery.ack();
    deps.events?.succeeded(decoded.id, result, (Date.now() - runtime.startedAt) / 1000);
    if (deps.logsInfo)
      deps.logger.info(
        { id: decoded.id },
        `Task ${decoded.name}[${decoded.id}] succeeded in ${Date.now() - runtime.startedAt} ms`,
      );
  } catch (error) {
    slot.runEnded();
    if (runtime.finish()) await settleAfterError(delivery, decoded, task, runtime, error, deps);
  } finally {
    clearTimeout(softTimer);
    clearTimeout(hardTimer);
    deps.running.delete(decoded.id);
  }
}

function abortSoftly(runtime: TaskRuntime, seconds: number): void {
  runtime.abort(new SoftTimeLimitExceededError(seconds));
}

function logStart(decoded: DecodedTaskMessage, delivery: Delivery, deps: ExecutorDeps): void {
  const again = delivery.redelivered ? ' again: redelivered, it may have run before' : '';
  deps.logger.info({ id: decoded.id }, `Task ${decoded.name}[${decoded.id}] started${again}`);
}

/** The value the task's resultSchema makes of its result; throws ResultValidationError. */
async function validResult(
  name: string,
  schema: StandardSchemaV1,
  result: unknown,
): Promise<unknown> {
  const outcome = await schema['~standard'].validate(result);
  if (outcome.issues) throw new ResultValidationError(name, outcome.issues);
  return outcome.value;
}

/**
 * JSON writers (ours, JSON.stringify) throw a TypeError for what they cannot write: that
 * result will never store, so the task fails instead of coming back forever.
 */
function notStorable(name: string, error: unknown): unknown {
  return error instanceof TypeError ? new ResultNotStorableError(name, error) : error;
}

/** The task threw, was aborted or its outcome could not be stored: retry, record, or give it back. */
async function settleAfterError(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  runtime: TaskRuntime,
  error: unknown,
  deps: ExecutorDeps,
): Promise<void> {
  const { logger } = deps;
  const aborted = runtime.aborted;
  if (
    (aborted?.reason instanceof WorkerShutdownError || error instanceof WorkerShutdownError) &&
    !(error instanceof ResultNotStorableError)
  ) {
    // The worker is being forced down: the task did not finish, so it runs again elsewhere.
    logger.warn(
      { id: decoded.id },
      `Task ${decoded.name}[${decoded.id}] interrupted by shutdown, requeued`,
    );
    await delivery.reject({ requeue: true, reason: 'worker shutdown' }).catch(() => undefined);
    return;
  }
  // A task that honours its signal usually throws a generic AbortError: record why it
  // was aborted (soft time limit, revoke) instead.
  const reason: unknown = aborted && isAbortError(error) ? aborted.reason : error;
  await settleFailure(delivery, decoded, task, reason, deps).catch(async (settleError: Error) => {
    // Storing the outcome failed (backend down?): give the message back rather than lose it.
    logger.error(
      { id: decoded.id },
      `Could not record the outcome of ${decoded.name}[${decoded.id}], requeued: ${settleError.message}`,
    );
    await delivery.reject({ requeue: true, reason: settleError.message }).catch(() => undefined);
  });
}

/** Told when the task's own code has ended, before its outcome is stored and its message settled. */
export interface RunEndHook {
  runEnded(): void;
}

const NO_HOOK: RunEndHook = { runEnded: () => undefined };

async function settleFailure(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  error: unknown,
  deps: ExecutorDeps,
): Promise<void> {
  const options = task.options;
  const explicit = error instanceof Retry ? error : undefined;
  const cause = explicit ? explicit.options.error : error;
  const wantsRetry =
    !(error instanceof TaskRevokedError) &&
    (explicit !== undefined ||
      (error instanceof PoolTaskError ? error.autoretry : matchesAutoretry(error, task)));
  const maxRetries = explicit?.options.maxRetries ?? options.maxRetries ?? 3;
  if (!wantsRetry || decoded.retries >= maxRetries) {
    const failure = explicit ? (cause ?? new Error(`Max retries (${maxRetries}) exceeded`)) : error;
    return recordFailure(delivery, decoded, failure, deps);
  }
  const countdown = retryCountdown(decoded, task, explicit);
  try {
    await sendRetry(delivery, decoded, countdown, deps, options);
  } catch (sendError) {
    // Requeuing would run the task again and fail the same way, forever, past maxRetries:
    // the task fails, and the message is kept where the broker keeps dead letters.
    return recordFailure(
      delivery,
      decoded,
      new RetryNotSentError(decoded.name, decoded.id, sendError),
      deps,
      { deadLetter: true },
    );
  }
  // The retry is sent: from here the current message must be acked, even if RETRY cannot
  // be stored (requeuing it would run the task twice).
  const reason = cause ?? new Error('Retry requested');
  // Told now, not after the store: the retry may be received before RETRY is stored.
  deps.events?.retried(decoded.id, reason);
  const retrying = stateMeta(deps, decoded, 'RETRY', serializeError(reason), stackOf(reason));
  // Which attempt failed and when the next one runs, so a page or `celeriac result` can say it
  // (`retries` is Celery's extended-meta field; Python clients ignore the other two).
  retrying.retries = decoded.retries;
  retrying.max_retries = maxRetries;
  retrying.eta = new Date(Date.now() + countdown * 1000).toISOString();
  await storeQuietly(deps, decoded, retrying);
  await delivery.ack();
  deps.logger.warn(
    { id: decoded.id },
    `Task ${decoded.name}[${decoded.id}] retry ${decoded.retries + 1}/${maxRetries} in ${countdown.toFixed(2)} s: ${nameOf(reason)}: ${messageOf(reason)}`,
  );
}

/** Seconds until the retry: the explicit countdown or eta, else the task's backoff for this attempt. */
function retryCountdown(
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
  explicit: Retry | undefined,
): number {
  const options = task.options;
  if (explicit?.options.countdown !== undefined) return explicit.options.countdown;
  if (explicit?.options.eta)
    return Math.max(0, (explicit.options.eta.getTime() - Date.now()) / 1000);
  return backoffSeconds(decoded.retries, {
    base: options.retryBackoff ?? 1,
    max: options.retryBackoffMax ?? 600,
    jitter: options.retryJitter ?? true,
  });
}

/** Publishes the retry (same id, retries + 1) before the current message is acked: a crash in between runs the task once more, never zero times. */
async function sendRetry(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  countdown: number,
  deps: ExecutorDeps,
  defaults: TaskOptions,
): Promise<void> {
  if (!Number.isFinite(countdown) || countdown < 0)
    throw new RangeError(`the retry countdown must be a number of seconds >= 0, got ${countdown}`);
  await deps.app.sendTask(
    decoded.name,
    decoded.args,
    {
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
      // The retry carries the workflow on (Celery's retry keeps callbacks, chain and chord).
      embed: decoded.embed,
    },
    defaults,
  );
}

/** Stores the final FAILURE (or REVOKED), settles the message, and logs one line naming the error's class. */
async function recordFailure(
  delivery: Delivery,
  decoded: DecodedTaskMessage,
  failure: unknown,
  deps: ExecutorDeps,
  settle: { deadLetter?: boolean } = {},
): Promise<void> {
  const state = failure instanceof TaskRevokedError ? 'REVOKED' : 'FAILURE';
  const serialized = serializeError(failure);
  await deps.backend?.store(
    stateMeta(deps, decoded, state, serialized, stackOf(failure)),
    storeOptionsFor(decoded, deps),
  );
  if (hasWorkflow(decoded.embed)) await afterFailure(decoded, state, serialized, deps);
  if (settle.deadLetter) await delivery.reject({ requeue: false, reason: messageOf(failure) });
  else await delivery.ack();
  if (state === 'REVOKED') deps.events?.revoked(decoded.id, { terminated: true, expired: false });
  else deps.events?.failed(decoded.id, failure);
  deps.logger.error(
    { id: decoded.id },
    `Task ${decoded.name}[${decoded.id}] raised ${nameOf(failure)}: ${messageOf(failure)}`,
  );
}

/**
 * The run, or TimeLimitExceeded once `seconds` pass: the run is aborted, and its thread or
 * child killed and replaced (threads and processes pools); clear `timer` when done.
 */
function withHardLimit<T>(
  run: Promise<T>,
  seconds: number,
  runtime: TaskRuntime,
  pool: TaskPool,
): { outcome: Promise<T>; timer: NodeJS.Timeout } {
  let timer!: NodeJS.Timeout;
  const outcome = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      const error = new TimeLimitExceededError(seconds);
      runtime.abort(error);
      pool.stop(runtime, error);
      reject(error);
    }, seconds * 1000);
    run.then(resolve, reject);
  });
  return { outcome, timer };
}

/** The positional arguments: kwargs placed by `params`, then validated by `argsSchema` when set. */
export function resolveArgs(
  decoded: DecodedTaskMessage,
  task: Task<unknown[], unknown>,
): unknown[] | Promise<unknown[]> {
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
      if (index < decoded.args.length)
        throw new TypeError(`got multiple values for argument "${name}"`);
      args[index] = decoded.kwargs[name];
    }
  }
  const schema = task.options.argsSchema;
  if (!schema) return args;
  const validated = (outcome: StandardSchemaResult<unknown[]>): unknown[] => {
    if (outcome.issues) throw new ArgumentValidationError(decoded.name, outcome.issues);
    return outcome.value;
  };
  const outcome = schema['~standard'].validate(args);
  return outcome instanceof Promise ? outcome.then(validated) : validated(outcome);
}

/** Stores a meta where a failure to store must not stop the rejection that follows. */
async function storeQuietly(
  deps: ExecutorDeps,
  decoded: TaskRoute,
  meta: ResultMeta,
): Promise<void> {
  try {
    await deps.backend?.store(meta, storeOptionsFor(decoded, deps));
  } catch (error) {
    deps.logger.warn(
      { id: meta.task_id },
      `Could not store state ${meta.status}: ${(error as Error).message}`,
    );
  }
}

/** Where a message rejected without requeue went, for the log line: the user looks there. */
function rejectedTo(deps: ExecutorDeps): string {
  return deps.broker.capabilities.deadLetter
    ? 'dead-lettered'
    : 'dropped: the broker keeps no dead letters';
}

/** The worker's store options plus where the task's caller waits (rpc:// sends results there). */
/** What a stored state needs of its message: the id and where the caller waits (rpc://). */
type TaskRoute = Pick<DecodedTaskMessage, 'id' | 'replyTo' | 'correlationId'>;

/** The route of a message whose body could not be read, from its properties. */
function routeOfMessage(id: string, delivery: Delivery): TaskRoute {
  const { reply_to: replyTo, correlation_id: correlationId } = delivery.message.properties;
  return {
    id,
    replyTo: typeof replyTo === 'string' && replyTo ? replyTo : null,
    correlationId: typeof correlationId === 'string' ? correlationId : null,
  };
}

/** metaFor, with Celery's `result_extended` fields when the app asks for them. */
/** The meta with Celery's `children`: what the task's success is about to send. */
function withChildren(meta: ResultMeta, decoded: DecodedTaskMessage): ResultMeta {
  meta.children = successChildren(decoded);
  return meta;
}

function stateMeta(
  deps: ExecutorDeps,
  decoded: DecodedTaskMessage,
  status: TaskState,
  result: JsonValue,
  traceback: string | null = null,
): ResultMeta {
  const meta = metaFor(decoded, status, result, traceback);
  if (!deps.resultExtended) return meta;
  Object.assign(meta, extendedFields(decoded, deps.hostname));
  // When the run began, for run times (the dashboard's histogram); absent before it runs.
  const running = deps.running.get(decoded.id);
  if (running) meta.date_started = formatCeleryDate(new Date(running.startedAt));
  return meta;
}

function storeOptionsFor(decoded: TaskRoute, deps: ExecutorDeps): StoreOptions {
  if (decoded.replyTo === null) return deps.storeOptions;
  // A literal, not a spread of deps.storeOptions: one is made per task, and V8 builds a
  // literal of a fixed shape far faster than it copies an object.
  return {
    expiresMs: deps.storeOptions.expiresMs,
    replyTo: decoded.replyTo,
    correlationId: decoded.correlationId ?? decoded.id,
  };
}

function isAbortError(error: unknown): boolean {
  return (
    error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeLimitExceeded')
  );
}

/** A Python-shaped traceback, so Python clients with remote tracebacks can parse it. */
function stackOf(error: unknown): string | null {
  return error instanceof Error ? formatTraceback(error) : null;
}
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
/** The error's class as the user wrote it (`NetworkError`, though its `name` says `Error`). */
function nameOf(error: unknown): string {
  return error instanceof Error ? jsTypeOf(error) : typeof error;
}
