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
    super(`"${redactUrl(url)}" needs the package "${packageName}": run \`npm install ${packageName}\`.`);
  }
}

export class TaskNotRegisteredError extends CeleriacError {
  constructor(readonly taskName: string) {
    super(
      `Task "${taskName}" is not registered on this app. Register it with app.task("${taskName}", fn), ` +
        `or check the name the sender used.`,
    );
  }
}

export class BrokerConnectionError extends CeleriacError {}

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
  constructor(seconds: number) {
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

export class ArgumentValidationError extends CeleriacError {
  constructor(
    taskName: string,
    readonly issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined }>,
  ) {
    super(
      `Arguments of "${taskName}" failed validation: ` +
        issues
          .map((issue) => {
            const path = (issue.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p)));
            return path.length ? `${path.join('.')}: ${issue.message}` : issue.message;
          })
          .join('; '),
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
    super(`The task ran past its hard time limit of ${seconds} s; the worker stopped waiting for it.`);
  }
}
