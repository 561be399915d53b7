/**
 * One error class per failure a user can act on. Each message says what happened and what
 * to do about it. Protocol-level errors (malformed messages) live in `protocol/errors.ts`.
 * A URL in a message always goes through `redactUrl`: errors end up in logs.
 */
import { redactUrl } from './redact-url.js';

export class CeleriacError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UnsupportedUrlError extends CeleriacError {
  constructor(role: string, url: string, known: string[]) {
    super(
      `Unsupported ${role} URL scheme in "${redactUrl(url)}". ` +
        `Use one of: ${known.map((s) => `${s}://`).join(', ')}.`,
    );
  }
}

export class MissingPeerDependencyError extends CeleriacError {
  constructor(
    readonly packageName: string,
    url: string,
  ) {
    super(
      `"${redactUrl(url)}" needs the package "${packageName}": run \`npm install ${packageName}\`.`,
    );
  }
}

/**
 * A task name nothing registered: thrown by `app.requireTask()`, and by `AsyncResult.get()`
 * when the worker refused the task as unknown. Stored as Celery's own `NotRegistered`, so
 * Python clients raise that.
 */
export class TaskNotRegisteredError extends CeleriacError {
  readonly excType = 'NotRegistered';
  readonly excModule = 'celery.exceptions';
  readonly excMessage: string[];
  constructor(readonly taskName: string) {
    super(
      `No task named "${taskName}" is registered (in this app, or in the worker's that refused it). ` +
        `Register it with app.task("${taskName}", fn) in the module the worker loads, or check the name the sender used.`,
    );
    this.excMessage = [taskName];
  }
}

export class BrokerConnectionError extends CeleriacError {}

/** A publish named a `transaction` and the broker cannot write through one; nothing was sent. */
export class TransactionalPublishUnsupportedError extends CeleriacError {
  constructor(readonly brokerKind: string) {
    super(
      `The ${brokerKind} broker cannot publish inside your transaction (the \`transaction\` option): ` +
        `only a broker on the same database can, e.g. postgres://. Send after your commit instead, or use the PostgreSQL broker.`,
    );
  }
}

/** A message is bigger than the broker is set to carry; nothing was sent. */
export class MessageTooLargeError extends CeleriacError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
    queue: string,
    /** The setting that sets the limit, named in the message. */
    setting: string,
  ) {
    super(
      `The message for queue "${queue}" is ${bytes} bytes on the wire, over the limit of ${limit} bytes (${setting}); ` +
        `nothing was sent. Pass large data by reference (a URL, a key) rather than in the arguments, or raise ${setting} ` +
        'on every sender and worker alike.',
    );
  }
}

export class TimeoutError extends CeleriacError {
  constructor(what: string, ms: number) {
    super(`${what} did not complete within ${ms} ms.`);
  }
}

/** Thrown into a task's AbortSignal when its soft time limit passes. */
export class SoftTimeLimitExceededError extends CeleriacError {
  /** Stored as Celery's own exception, so Python clients raise SoftTimeLimitExceeded. */
  readonly excType = 'SoftTimeLimitExceeded';
  readonly excModule = 'celery.exceptions';
  constructor(readonly seconds: number) {
    super(`The task ran past its soft time limit of ${seconds} s.`);
  }
}

export class TaskRevokedError extends CeleriacError {
  readonly excType = 'TaskRevokedError';
  readonly excModule = 'celery.exceptions';
  constructor(taskId: string) {
    super(`Task ${taskId} was revoked.`);
  }
}

/** What a Standard Schema reports, as the validation errors below keep it. */
export type ValidationIssues = ReadonlyArray<{
  message: string;
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined;
}>;

function describeIssues(issues: ValidationIssues): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? []).map((p) =>
        typeof p === 'object' ? String(p.key) : String(p),
      );
      return path.length ? `${path.join('.')}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** The arguments failed the task's `argsSchema`: the task did not run. */
export class ArgumentValidationError extends CeleriacError {
  constructor(
    taskName: string,
    readonly issues: ValidationIssues,
  ) {
    super(`Arguments of "${taskName}" failed validation: ${describeIssues(issues)}`);
  }
}

/** The task's return value failed its `resultSchema`: the task ran, the value was not stored. */
export class ResultValidationError extends CeleriacError {
  constructor(
    taskName: string,
    readonly issues: ValidationIssues,
  ) {
    super(
      `The result of "${taskName}" failed validation, so it was not stored: ${describeIssues(issues)}. Fix the task or its resultSchema.`,
    );
  }
}

/**
 * The task's return value cannot be written as JSON (a cycle, a function, nested deeper
 * than the JSON limit): stored as kombu's `EncodeError`, as Celery does.
 */
export class ResultNotStorableError extends CeleriacError {
  readonly excType = 'EncodeError';
  readonly excModule = 'kombu.exceptions';
  constructor(taskName: string, cause: unknown) {
    super(
      `The result of "${taskName}" cannot be stored as JSON: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `Return plain JSON data (no cycles, functions or class instances).`,
      { cause },
    );
  }
}

/**
 * A retry was asked for (by `retry()` or `autoretryFor`) but its message could not be
 * sent (its arguments cannot be written, the broker refused it): the task fails instead of
 * running again and again.
 */
export class RetryNotSentError extends CeleriacError {
  constructor(taskName: string, taskId: string, cause: unknown) {
    super(
      `Task "${taskName}" [${taskId}] asked to be retried, but the retry could not be sent: ` +
        `${cause instanceof Error ? cause.message : String(cause)}. The task failed and its message was dead-lettered; ` +
        `fix the cause and send it again.`,
      { cause },
    );
  }
}

/** The reason a running task's AbortSignal fires when the worker is forced to stop. */
export class WorkerShutdownError extends CeleriacError {
  constructor() {
    super('The worker is shutting down; this task will run again on another worker.');
  }
}

/** The worker stopped waiting for a task at its hard time limit (Celery's TimeLimitExceeded). */
export class TimeLimitExceededError extends CeleriacError {
  readonly excType = 'TimeLimitExceeded';
  readonly excModule = 'celery.exceptions';
  constructor(seconds: number) {
    super(
      `The task ran past its hard time limit of ${seconds} s; the worker stopped waiting for it.`,
    );
  }
}

/**
 * The thread or child process running a task ended before the task did (it crashed, ran
 * out of memory, called `process.exit`, or was killed from outside): Celery's
 * WorkerLostError. The task is recorded FAILURE and the pool starts a replacement.
 */
export class WorkerLostError extends CeleriacError {
  readonly excType = 'WorkerLostError';
  readonly excModule = 'billiard.exceptions';
  constructor(how: string) {
    super(`The pool member running the task exited prematurely (${how}).`);
  }
}

/** A `threads` or `processes` pool could not start its threads or children. */
export class PoolStartError extends CeleriacError {}

/**
 * Flow control needs shared state (a task's shared rate or concurrency limit, an
 * idempotency key), but the result backend keeps no flow store (rpc://, or none).
 */
export class FlowStoreUnavailableError extends CeleriacError {
  constructor(what: string, backend: string) {
    super(
      `${what} needs a flow store, but the result backend (${backend}) keeps none: use a ` +
        `SQLite, Redis or memory:// result backend.`,
    );
  }
}

/**
 * A workflow the worker or the sender cannot carry out: a signature type it does not know
 * (`subtask_type`), or a shape it cannot run. The message is refused, never half-run.
 */
export class UnsupportedCanvasError extends CeleriacError {
  constructor(what: string) {
    super(`Cannot carry out this workflow: ${what}.`);
  }
}

/**
 * A chord on a result backend that keeps no chord counters (rpc://, as in Celery). Use a
 * backend that does (sqlite://, redis://).
 */
export class ChordsNotSupportedError extends CeleriacError {
  constructor(backendKind: string) {
    super(
      `The ${backendKind} result backend cannot count a chord's header results: ` +
        'chords need a backend with chord counters (sqlite://, redis://).',
    );
  }
}

/**
 * A chord whose body could not run: a header task failed, was revoked or expired (with the
 * `fail` policy), or the chord's deadline passed. Stored on the body as Celery's ChordError.
 */
export class ChordError extends CeleriacError {
  readonly excType = 'ChordError';
  readonly excModule = 'celery.exceptions';
  constructor(
    message: string,
    /** The header task ids that did not succeed. */
    readonly failedTaskIds: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Remote control or events asked of a broker that has no broadcasting (a third-party broker without it). */
export class BroadcastUnsupportedError extends CeleriacError {
  constructor(kind: string, what: string) {
    super(
      `${what} needs a broker with fanout (Redis, RabbitMQ, SQLite or PostgreSQL); the ${kind} broker has none. ` +
        'Point the app (or -b) at redis://, amqp://, sqlite:// or postgres://.',
    );
  }
}
