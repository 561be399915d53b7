/**
 * Errors raised while decoding what travels on the wire: task messages, envelopes and
 * result metas. Each says what was wrong and that the input was rejected, in one line a
 * worker can log as is. These errors must never echo a whole payload (it may be huge or
 * hold secrets); they quote at most a short excerpt.
 */

/** A task message (or its Redis envelope) that cannot be turned into a task. */
export class MalformedMessageError extends Error {
  /** The reason alone, without the "rejected" framing, for structured logs. */
  readonly reason: string;
  readonly taskId: string | null;
  readonly taskName: string | null;

  constructor(
    reason: string,
    context: { taskId?: string | null; taskName?: string | null } = {},
    options?: ErrorOptions,
  ) {
    const taskId = context.taskId ?? null;
    const taskName = context.taskName ?? null;
    const which =
      taskName !== null || taskId !== null
        ? ` (task ${taskName === null ? '?' : JSON.stringify(taskName)}, id ${taskId === null ? '?' : JSON.stringify(taskId)})`
        : '';
    super(`Rejected a malformed task message${which}: ${reason}`, options);
    this.name = 'MalformedMessageError';
    this.reason = reason;
    this.taskId = taskId;
    this.taskName = taskName;
  }
}

/** A message whose body is not JSON, e.g. pickle, which we refuse to deserialize at all. */
export class UnsupportedContentTypeError extends Error {
  readonly contentType: string;

  constructor(contentType: string) {
    const known = KNOWN_SERIALIZERS[contentType.toLowerCase()];
    const label =
      contentType === ''
        ? 'no content type'
        : `content type ${JSON.stringify(contentType)}${known ? ` (${known})` : ''}`;
    super(
      `Rejected a task message with ${label}: only JSON (application/json) is accepted and message bodies ` +
        `are never evaluated. Make the sender use the JSON serializer (Celery: task_serializer='json').`,
    );
    this.name = 'UnsupportedContentTypeError';
    this.contentType = contentType;
  }
}

/** A stored result meta that does not have the shape Celery's result backends write. */
export class MalformedResultMetaError extends Error {
  readonly reason: string;

  constructor(reason: string, options?: ErrorOptions) {
    super(`Rejected a malformed result meta: ${reason}`, options);
    this.name = 'MalformedResultMetaError';
    this.reason = reason;
  }
}

const KNOWN_SERIALIZERS: Record<string, string> = {
  'application/x-python-serialize': 'pickle',
  'application/x-yaml': 'yaml',
  'application/x-msgpack': 'msgpack',
  'application/data': 'raw bytes',
};

/** A short, single-line excerpt of untrusted text for error messages. */
export function excerpt(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ');
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}
