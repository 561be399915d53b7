/**
 * The pool a worker runs its tasks with: `async` (every task in the worker's own event
 * loop, the default, for I/O-bound work), `threads` (worker_threads) or `processes`
 * (child Node processes), both for CPU-bound work and the only ones where a hard time
 * limit or a revoke with terminate can stop code that does not stop itself. The worker
 * dispatches every run through `run`; the async pool's `run` is the call itself, entering the
 * AsyncLocalStorage only for functions that can await (task-context.ts runTaskCall).
 */
import path from 'node:path';
import type { Task } from '../../app/task.js';
import { runTaskCall } from '../../app/task-context.js';
import type { Logger } from '../../logger.js';
import type { TaskRuntime } from '../task-runtime.js';
import type { RunningTask } from '../execute.js';
import { ChildPool } from './child-pool.js';

/** Which pool: `-P async|threads|processes` on the command line. */
export type PoolKind = 'async' | 'threads' | 'processes';

export const POOL_KINDS: readonly PoolKind[] = ['async', 'threads', 'processes'];

export interface TaskPool {
  readonly kind: PoolKind;
  /** Tasks it runs at once: the worker's slots. */
  readonly size: number;
  /** Starts the threads or children (each loads the app module); resolves once all are ready. */
  start(): Promise<void>;
  /** Runs the task with `runtime` as its context: its result, or a promise of it. */
  run(runtime: TaskRuntime, task: Task<unknown[], unknown>, args: unknown[]): unknown;
  /**
   * Stops a run now, where the pool can (kills and replaces its thread or child, which
   * gets `signal` on the processes pool): the run rejects with `reason`. False when the pool
   * cannot stop running code (async: only the task's signal can).
   */
  stop(task: RunningTask, reason: Error, signal?: NodeJS.Signals): boolean;
  grow(n: number): void;
  shrink(n: number): void;
  /** Ends every thread or child (running ones are killed: give their messages back first). */
  close(): Promise<void>;
  /** The members alive, `pid 123` or `thread 4` (empty for async). */
  labels(): string[];
  /** The pid of the child process running `task` (processes pool); undefined elsewhere. */
  pidOf(task: RunningTask): number | undefined;
}

export interface PoolOptions {
  kind: PoolKind;
  size: number;
  /** The app module (`path[:export]`, as -A), which threads and children load. */
  appModule?: string | undefined;
  maxTasksPerChild?: number | undefined;
  maxMemoryPerChild?: number | undefined;
  logger: Logger;
}

export function createPool(options: PoolOptions): TaskPool {
  if (options.kind === 'async') return new AsyncPool(options.size);
  if (!options.appModule)
    throw new TypeError(
      `The ${options.kind} pool loads the app module in each ${options.kind === 'threads' ? 'thread' : 'child process'}: ` +
        'give the worker `appModule` (the path of the module exporting the app, as `-A` takes it).',
    );
  return new ChildPool({
    kind: options.kind,
    appModule: absoluteSpec(options.appModule),
    size: options.size,
    maxTasksPerChild: options.maxTasksPerChild,
    maxMemoryPerChild: options.maxMemoryPerChild,
    logger: options.logger,
  });
}

/** Every task in this event loop: `run` is the call itself. */
class AsyncPool implements TaskPool {
  readonly kind = 'async';

  constructor(public size: number) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  run(runtime: TaskRuntime, task: Task<unknown[], unknown>, args: unknown[]): unknown {
    return runTaskCall(runtime, task.run, args);
  }

  stop(): boolean {
    return false;
  }

  grow(n: number): void {
    this.size += Math.max(0, n);
  }

  shrink(n: number): void {
    this.size = Math.max(1, this.size - Math.max(0, n));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  labels(): string[] {
    return [];
  }

  pidOf(): undefined {
    return undefined;
  }
}

/** `path[:export]` with the path made absolute (a child's cwd is the same, but be exact). */
function absoluteSpec(spec: string): string {
  const colon = spec.lastIndexOf(':');
  const separator = Math.max(spec.lastIndexOf('/'), spec.lastIndexOf('\\'));
  if (colon > separator && colon > 1)
    return `${path.resolve(spec.slice(0, colon))}:${spec.slice(colon + 1)}`;
  return path.resolve(spec);
}
