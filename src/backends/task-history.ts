/**
 * The task-history contract (a result backend's optional `taskHistory()`): each task's
 * events (sent, received, started, retried, succeeded, failed, revoked, rejected) kept
 * beside its result, for as long as its result, so the dashboard's timeline of one task
 * survives a restart of the app and of every worker. Written only with the app's
 * `taskHistory` option on. Pure: no I/O, and nothing above the contracts is imported.
 */

/** The events a history keeps: Celery's task event types. */
export const TASK_HISTORY_TYPES = [
  'task-sent',
  'task-received',
  'task-started',
  'task-retried',
  'task-succeeded',
  'task-failed',
  'task-revoked',
  'task-rejected',
] as const;

export type TaskHistoryType = (typeof TASK_HISTORY_TYPES)[number];

export interface TaskHistoryEvent {
  type: TaskHistoryType;
  /** When it happened: unix ms on the clock of the process that recorded it. */
  at: number;
  /** Who recorded it: a worker's hostname (`celery@host`), or a client's `gen<pid>@host`. */
  hostname: string;
  /**
   * A short human line: the queue a task was sent to, a failure's exception repr, a
   * success's run time, how a task was revoked. Never the arguments or the result.
   */
  detail?: string | undefined;
}

export interface TaskHistoryEntry {
  taskId: string;
  event: TaskHistoryEvent;
}

/** Events kept per task at most: the newest are kept (a task retried forever stays bounded). */
export const MAX_TASK_EVENTS = 100;
/** Longest `detail` kept; longer ones are cut. */
export const MAX_DETAIL = 300;

export interface TaskHistory {
  /**
   * Appends events of any tasks in one write where the store can (a worker's events of
   * one event-loop turn travel together). Events expire `expiresMs` after they were
   * appended (the results' expiry; 0 keeps them forever); a store may count it from the
   * task's first event instead (Redis: one list per task).
   */
  append(entries: readonly TaskHistoryEntry[], options: { expiresMs: number }): Promise<void>;
  /** The task's events, oldest first by `at` (ties in append order); at most MAX_TASK_EVENTS, the newest. */
  read(taskId: string): Promise<TaskHistoryEvent[]>;
  /** Deletes the events of the ids (the backend's `forget` calls it too). */
  forget(taskIds: readonly string[]): Promise<void>;
}

/** Whether a decoded value is a history event (stores read back what they wrote; this guards the rest). */
export function isTaskHistoryEvent(value: unknown): value is TaskHistoryEvent {
  if (value === null || typeof value !== 'object') return false;
  const event = value as Record<string, unknown>;
  return (
    typeof event.type === 'string' &&
    (TASK_HISTORY_TYPES as readonly string[]).includes(event.type) &&
    typeof event.at === 'number' &&
    typeof event.hostname === 'string' &&
    (event.detail === undefined || typeof event.detail === 'string')
  );
}

/** The stored form of one event: compact JSON, detail cut to MAX_DETAIL. */
export function encodeHistoryEvent(event: TaskHistoryEvent): string {
  const detail = event.detail === undefined ? undefined : event.detail.slice(0, MAX_DETAIL);
  return JSON.stringify({ type: event.type, at: event.at, hostname: event.hostname, detail });
}

/** Stored texts back to events, dropping any that do not decode; sorted and capped as `read` promises. */
export function decodeHistory(texts: readonly string[]): TaskHistoryEvent[] {
  const events: TaskHistoryEvent[] = [];
  for (const text of texts) {
    try {
      const value: unknown = JSON.parse(text);
      if (isTaskHistoryEvent(value)) events.push(value);
    } catch {
      // a foreign or damaged entry: skipped
    }
  }
  // Array.prototype.sort is stable: ties keep append order.
  return events.sort((a, b) => a.at - b.at).slice(-MAX_TASK_EVENTS);
}
