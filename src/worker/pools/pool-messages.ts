/**
 * The messages between a worker and the threads or child processes of its pool, carried
 * by structured clone (worker_threads' postMessage, or a child's IPC channel with
 * `serialization: 'advanced'`). Types only: both sides import them, neither imports the other.
 */
import type { JsonObject, SerializedError } from '../../protocol/types.js';

/** What a task's context shows inside a thread or child: the run's ids and message facts. */
export interface RunFacts {
  id: string;
  name: string;
  retries: number;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue: string;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  hostname: string;
  redelivered: boolean;
}

/** Why the worker aborts a run inside a member (its signal fires with the matching error). */
export type AbortKind =
  | { kind: 'soft'; seconds: number }
  | { kind: 'revoked' }
  | { kind: 'shutdown' }
  | { kind: 'other'; message: string };

export type ToMember =
  | { type: 'run'; job: number; facts: RunFacts; args: unknown[] }
  | { type: 'abort'; job: number; reason: AbortKind }
  /** The answer to a `state` message: the state was stored (or could not be). */
  | { type: 'stored'; seq: number; error: string | null };

/** A task's failure as it crossed the boundary: stored as it would have been in the worker. */
export interface MemberFailure {
  serialized: SerializedError;
  /** The error's V8 stack, so the stored traceback names the task's own frames. */
  stack: string;
  /** Whether the task's `autoretryFor` matches it (decided where its classes live). */
  autoretry: boolean;
  /** Set when the task called `retry()`: its options, `error` carried as a failure. */
  retry: { countdown?: number; eta?: Date; maxRetries?: number; error?: MemberFailure } | null;
}

export type FromMember =
  | { type: 'ready'; pid: number; tasks: string[] }
  | { type: 'load-failed'; message: string; stack: string }
  | { type: 'done'; job: number; ok: true; result: unknown; memoryKiB: number }
  | { type: 'done'; job: number; ok: false; failure: MemberFailure; memoryKiB: number }
  | { type: 'state'; job: number; seq: number; state: string; meta: JsonObject };

/** What the bootstrap hands a member at start (worker_threads' workerData, or argv for a child). */
export interface MemberSetup {
  /** The app module, as `-A` takes it: `path/to/tasks.ts[:export]`, absolute. */
  appModule: string;
  /** Report memory after each task (for `maxMemoryPerChild`). */
  measureMemory: boolean;
}
