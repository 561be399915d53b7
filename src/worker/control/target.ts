/**
 * What remote control reads and changes in a worker: one small interface the Worker
 * implements, so the commands (commands.ts) never reach into the worker's internals and a
 * pool that learns to grow, shrink or terminate plugs in here alone.
 */
import type { WorkerFlowState } from '../../flow/flow-control.js';
import type { Celeriac } from '../../app/celeriac.js';
import type { Rate } from '../../app/task-options.js';
import type { Delivery } from '../../brokers/broker.js';
import type { RunningTask } from '../execute.js';

export interface WorkerSnapshot {
  /** Tasks whose code runs now. */
  running: RunningTask[];
  /** Deliveries taken and waiting for a slot. */
  reserved: Delivery[];
  /** Deliveries held until their ETA (brokers without delayed delivery). */
  scheduled: Array<{ delivery: Delivery; dueAt: number }>;
}

export interface ControlTarget {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly queues: readonly string[];
  /** Tasks run at once (the async pool's slots). */
  readonly concurrency: number;
  readonly prefetchCount: number;
  /** Unix ms. */
  readonly startedAt: number;
  readonly activeCount: number;
  /** Tasks run to an outcome since start, by task name. */
  taskTotals(): ReadonlyMap<string, number>;
  snapshot(): WorkerSnapshot;
  revokedIds(): string[];
  /**
   * Marks the ids revoked (never run here from now on) and, with `terminate`, aborts those
   * running. Returns the ids it terminated.
   */
  revoke(
    ids: readonly string[],
    options: { terminate: boolean; signal?: NodeJS.Signals | undefined },
  ): string[];
  /** Tasks of this name start at most at `rate` (Celery's syntax, valid) here; null lifts the limit. */
  setRateLimit(taskName: string, rate: Rate | null): void;
  /** Flow control here: each limited task's current rate, slots held and deliveries waiting, by key. */
  flowState(): WorkerFlowState[];
  /** Adds (or, negative, removes) slots. Returns the new concurrency. */
  resizePool(delta: number): number;
  /** The pid running a task: its child on the processes pool, else this process. */
  workerPidOf(task: RunningTask): number;
  /** The pool's kind, slots, members (`pid 123`, `thread 4`) and max tasks per child, for `stats`. */
  poolInfo(): { kind: string; size: number; members: string[]; maxTasksPerChild: number | null };
  /** New autoscale bounds (either may be left); null when the worker has no autoscale. */
  setAutoscale(
    max: number | undefined,
    min: number | undefined,
  ): { max: number; min: number } | null;
  addQueue(queue: string): Promise<void>;
  cancelQueue(queue: string): Promise<void>;
  /** A remote `shutdown`: a warm shutdown, then the process exits (the CLI decides). */
  requestShutdown(reason: string): void;
  /** `heartbeat` and `enable_events` / `disable_events` act on the worker's events. */
  sendHeartbeat(): void;
  setTaskEvents(on: boolean): boolean;
}
