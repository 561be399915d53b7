/**
 * The result-backend contract: store and read task states, push updates to whoever waits,
 * and keep the few shared counters workflows need. A backend never runs a task and never
 * decides what a state means.
 */
import type { ResultMeta } from '../protocol/types.js';
import type { Broker } from '../brokers/broker.js';
import type { BeatStore } from './beat-store.js';
import type { WorkerRegistry } from './worker-registry.js';
import type { TaskListing } from './task-listing.js';
import type { FlowStore } from './flow-store.js';

export type Unsubscribe = () => Promise<void>;

export interface StoreOptions {
  /** Milliseconds until the stored meta may be deleted. Default: the app's `resultExpires`. */
  expiresMs?: number | undefined;
  /**
   * The task message's `reply_to` (the caller's reply queue), passed by the worker on every
   * store of a task it runs. Backends that send results to the caller (rpc://) use it; the
   * others ignore it.
   */
  replyTo?: string | undefined;
  /** The task message's `correlation_id` (Celery: the task id). Default: the task id. */
  correlationId?: string | undefined;
}

export interface ResultBackend {
  readonly kind: string;
  /**
   * Called by the app that owns both, before `connect()`, with its broker (not yet
   * connected): a backend of the same client may share what the broker knows, e.g. Redis
   * result writes riding with the broker's fetch calls, or rpc:// learning the broker's
   * RabbitMQ URL and reply queues (Celery's rpc backend uses the app's broker connection).
   * Scoped to that one app: nothing is shared process-wide, and a backend belongs to one
   * app (a second call replaces the first). Backends with nothing to share leave it out;
   * one handed an unrelated broker ignores it.
   */
  attachBroker?(broker: Broker): void;
  connect(): Promise<void>;
  /** Stores the meta under its `task_id` and notifies subscribers of that id. */
  store(meta: ResultMeta, options?: StoreOptions): Promise<void>;
  /** The stored meta, or `undefined` when nothing is known (a PENDING task). */
  get(taskId: string): Promise<ResultMeta | undefined>;
  /**
   * Calls `listener` with each meta stored for `taskId` from now on (push where the store
   * can, a cheap shared poll where it cannot). Subscribe before reading to miss nothing.
   */
  subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe>;
  /** Deletes what is stored for the ids. */
  forget(taskIds: string[]): Promise<void>;
  /** Records that the ids are revoked, for every worker to see. */
  revoke(taskIds: string[], options?: { terminate?: boolean; expiresMs?: number }): Promise<void>;
  /**
   * Whether one id is revoked. Workers ask before every task, so a backend answers
   * synchronously when it can (a complete mirror kept while `onRevoke` listens, an embedded
   * database) and with a promise only when it must ask a server.
   */
  isRevoked(taskId: string): boolean | Promise<boolean>;
  /** Calls `listener` when any task id is revoked from now on. */
  onRevoke(listener: (taskId: string, terminate: boolean) => void): Promise<Unsubscribe>;
  /**
   * Beat's schedule store kept beside the results (stored schedules, leader lease, run
   * claims). Absent where the backend cannot hold one (rpc://).
   */
  beatStore?(): BeatStore;
  /** Where live workers announce themselves, for `celeriac status`. Absent on rpc://. */
  workerRegistry?(): WorkerRegistry;
  /**
   * Flow control's shared counters (rate-limit buckets, leased concurrency slots,
   * idempotency claims). Absent where the backend cannot hold them (rpc://): a task that
   * declares a shared limit then refuses to start a worker.
   */
  flowStore?(): FlowStore;

  // ---- Task listing (the dashboard; task-listing.ts) ----
  /**
   * Stored tasks by filter (state, name, queue, worker, time, argument fields), newest
   * change first, in cursor pages, and counts. Absent where the store cannot list (rpc://
   * sends results to the caller and keeps none). Name, queue, worker and argument filters
   * need the app's `resultExtended`; Redis indexes tasks for listing only with it on.
   */
  taskListing?(): TaskListing;

  close(): Promise<void>;
}
