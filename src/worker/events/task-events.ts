/**
 * The worker's task events (`-E`), with the fields Celery 5.2's worker sends: task-received
 * (from the message headers alone, before anything is decoded), started, succeeded (the
 * result's repr and the run time), failed and retried (the exception's repr and a
 * traceback), revoked (terminated / expired), rejected (requeue). Sent through the
 * EventDispatcher, which batches them into `task.multi` messages: one broker call per burst,
 * not per event. Must never throw into the executor.
 */
import type { EventDispatcher } from '../../app/event-dispatcher.js';
import { exceptionRepr, receivedEventFields, resultRepr } from '../../protocol/events.js';
import { formatTraceback, jsTypeOf } from '../../protocol/result-meta.js';
import type { JsonValue, TransportMessage } from '../../protocol/types.js';

/**
 * What the executor tells about each task, as it happens: the broadcasting sink below
 * (Celery's events), the task history (task-history-sink.ts), or both (bothListeners).
 * Each call must return at once and never throw.
 */
export interface TaskEventListener {
  received(message: TransportMessage): void;
  started(id: string): void;
  succeeded(id: string, result: unknown, runtimeSeconds: number): void;
  failed(id: string, error: unknown): void;
  retried(id: string, error: unknown): void;
  revoked(id: string, how: { terminated: boolean; expired: boolean; signum?: string }): void;
  rejected(id: string, requeue: boolean): void;
}

/** The listener telling each of `listeners` (undefined ones left out), or undefined when none is left. */
export function bothListeners(
  ...listeners: Array<TaskEventListener | undefined>
): TaskEventListener | undefined {
  const live = listeners.filter((l): l is TaskEventListener => l !== undefined);
  if (live.length <= 1) return live[0];
  return {
    received: (message) => live.forEach((l) => l.received(message)),
    started: (id) => live.forEach((l) => l.started(id)),
    succeeded: (id, result, seconds) => live.forEach((l) => l.succeeded(id, result, seconds)),
    failed: (id, error) => live.forEach((l) => l.failed(id, error)),
    retried: (id, error) => live.forEach((l) => l.retried(id, error)),
    revoked: (id, how) => live.forEach((l) => l.revoked(id, how)),
    rejected: (id, requeue) => live.forEach((l) => l.rejected(id, requeue)),
  };
}

export class TaskEventSink implements TaskEventListener {
  constructor(private readonly dispatcher: EventDispatcher) {}

  received(message: TransportMessage): void {
    const h = message.headers;
    if (typeof h.id !== 'string' || typeof h.task !== 'string') return;
    this.dispatcher.send(
      'task-received',
      receivedEventFields({
        uuid: h.id,
        name: h.task,
        args: stringOr(h.argsrepr, '()'),
        kwargs: stringOr(h.kwargsrepr, '{}'),
        root_id: stringOrNull(h.root_id),
        parent_id: stringOrNull(h.parent_id),
        retries: typeof h.retries === 'number' ? h.retries : 0,
        eta: stringOrNull(h.eta),
        expires: stringOrNull(h.expires),
      }),
    );
  }

  started(id: string): void {
    this.dispatcher.send('task-started', { uuid: id });
  }

  succeeded(id: string, result: unknown, runtimeSeconds: number): void {
    this.dispatcher.send('task-succeeded', {
      uuid: id,
      result: resultRepr(result),
      runtime: runtimeSeconds,
    });
  }

  failed(id: string, error: unknown): void {
    this.dispatcher.send('task-failed', { uuid: id, ...errorFields(error) });
  }

  retried(id: string, error: unknown): void {
    this.dispatcher.send('task-retried', { uuid: id, ...errorFields(error) });
  }

  revoked(id: string, how: { terminated: boolean; expired: boolean; signum?: string }): void {
    this.dispatcher.send('task-revoked', {
      uuid: id,
      terminated: how.terminated,
      signum: how.signum ?? null,
      expired: how.expired,
    });
  }

  rejected(id: string, requeue: boolean): void {
    this.dispatcher.send('task-rejected', { uuid: id, requeue });
  }
}

export function errorFields(error: unknown): { exception: string; traceback: string } {
  if (error instanceof Error) {
    return {
      exception: exceptionRepr(jsTypeOf(error), error.message),
      traceback: formatTraceback(error),
    };
  }
  return { exception: exceptionRepr('Error', String(error)), traceback: '' };
}

function stringOr(value: JsonValue | undefined, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
function stringOrNull(value: JsonValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}
