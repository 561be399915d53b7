/**
 * Writes task events to the result backend's task history (the app's `taskHistory`):
 * events of one event-loop turn go in one `append`, so a worker finishing a hundred tasks
 * at once makes one extra write, not a hundred. Used by the app (task-sent) and by workers
 * (the rest). Must never throw into a caller nor hold up a task: a failed write is
 * reported to `onError` and dropped.
 */
import type { TaskHistory, TaskHistoryEntry, TaskHistoryEvent } from '../backends/task-history.js';

export class TaskHistoryRecorder {
  private pending: TaskHistoryEntry[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;

  /**
   * @param history the backend's task history, or undefined when it keeps none (then
   *   every event is dropped; `onError` is not called for it)
   * @param hostname who records: a worker's hostname or a client's `gen<pid>@host`
   */
  constructor(
    private readonly history: () => Promise<TaskHistory | undefined>,
    readonly hostname: string,
    private readonly expiresMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Records one event of a task now; written at the end of this turn. */
  record(taskId: string, type: TaskHistoryEvent['type'], detail?: string): void {
    const event: TaskHistoryEvent = { type, at: Date.now(), hostname: this.hostname };
    if (detail !== undefined) event.detail = detail;
    this.pending.push({ taskId, event });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const entries = this.pending;
    this.pending = [];
    if (entries.length === 0) return;
    const write = this.history()
      .then((history) => history?.append(entries, { expiresMs: this.expiresMs }))
      .catch((error: unknown) =>
        this.onError(error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
  }

  /** Writes what is pending and waits for every write in flight. */
  async close(): Promise<void> {
    this.flush();
    await Promise.all([...this.inFlight]);
  }
}
