/**
 * The TaskContext a worker hands to each execution: ids, the abort signal, progress and
 * state updates written to the result backend, and `retry()`. One per run; it must never
 * ack or publish itself (the executor does, after the run ends), except that a forced
 * shutdown gives the message back through it when the run would not end.
 * Hot path: a worker makes tens of thousands a second, so the AbortController is made
 * only when the task asks for its signal or something aborts it, and the methods are
 * made only when a task reaches for them (they stay usable when destructured).
 */
import type { ResultBackend, StoreOptions } from '../backends/backend.js';
import type { Delivery } from '../brokers/broker.js';
import type { DecodedTaskMessage } from '../protocol/task-message.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';
import { Retry, type Progress, type RetryOptions, type TaskContext } from '../app/task-context.js';
import { extendedFields, metaFor } from './result-states.js';

/** A task run in progress: its context, and the handle the worker aborts it by. */
export class TaskRuntime implements TaskContext {
  readonly startedAt = Date.now();
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private isAborted = false;
  /** The run's outcome is being recorded (or it was given back): the task's own updates stop. */
  private finished = false;
  private givenBack = false;

  constructor(
    private readonly decoded: DecodedTaskMessage,
    private readonly delivery: Delivery,
    readonly hostname: string,
    private readonly backend: ResultBackend | undefined,
    private readonly storeOptions: StoreOptions,
    /** The app's `resultExtended`: Celery's request fields go with each state stored. */
    private readonly resultExtended = false,
  ) {}

  get queue(): string {
    return this.delivery.queue;
  }
  get redelivered(): boolean {
    return this.delivery.redelivered;
  }

  /**
   * The executor records the outcome from now on: later progress or state updates from the
   * task (one abandoned at its hard time limit goes on running) are not stored, so they
   * cannot overwrite the final state. False when the message was given back instead.
   */
  finish(): boolean {
    this.finished = true;
    return !this.givenBack;
  }

  /** For a forced shutdown: puts the message back in the queue unless the outcome is being recorded. */
  async giveBack(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.givenBack = true;
    await this.delivery.reject({ requeue: true, reason: 'worker shutdown' });
  }

  get id(): string {
    return this.decoded.id;
  }
  get name(): string {
    return this.decoded.name;
  }
  get retries(): number {
    return this.decoded.retries;
  }
  get args(): readonly unknown[] {
    return this.decoded.args;
  }
  get kwargs(): Readonly<Record<string, unknown>> {
    return this.decoded.kwargs;
  }
  get rootId(): string | null {
    return this.decoded.rootId;
  }
  get parentId(): string | null {
    return this.decoded.parentId;
  }
  get groupId(): string | null {
    return this.decoded.groupId;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Why the run was aborted (soft time limit, revoke, shutdown), or undefined while it was not. */
  get aborted(): { reason: unknown } | undefined {
    return this.isAborted ? { reason: this.abortReason } : undefined;
  }

  /** Aborts the run once: the task's signal fires with `reason`. */
  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  get updateState(): (state: string, meta?: JsonObject) => Promise<void> {
    return (state, meta = {}) => this.store(state, meta);
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
      return this.store('PROGRESS', progress as unknown as Record<string, JsonValue>);
    };
  }

  get retry(): (options?: RetryOptions) => never {
    return (options = {}) => {
      throw new Retry(options);
    };
  }

  private async store(state: string, meta: JsonObject): Promise<void> {
    const { backend, decoded } = this;
    if (!backend || this.finished) return;
    const stored = metaFor(decoded, state, meta);
    if (this.resultExtended) Object.assign(stored, extendedFields(decoded, this.hostname));
    await backend.store(stored, this.storeOptions);
  }
}
