/**
 * The result-backend contract: store and read task states, push updates to whoever waits,
 * and keep the few shared counters workflows need. A backend never runs a task and never
 * decides what a state means.
 */
import type { JsonValue, ResultMeta, TaskState } from '../protocol/types.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import type { BeatStore } from './beat-store.js';
import type { WorkerRegistry } from './worker-registry.js';
import type { TaskListing } from './task-listing.js';
import type { FlowStore } from './flow-store.js';
import type { TaskHistory } from './task-history.js';

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

/** One header task's final outcome, as a chord join keeps it. */
export interface ChordPart {
  taskId: string;
  /** The task's place in the header (`group_index`); null when its sender gave none. */
  index: number | null;
  /** A ready state: SUCCESS, FAILURE or REVOKED. */
  state: TaskState;
  /** The task's result, or its serialised error. */
  result: JsonValue;
}

/**
 * What a chord's fan-in needs of a backend: the header's size, one atomic "record this part
 * and tell me whether it was the last", and clean-up. Atomic across processes: of every
 * caller, exactly one sees the join complete; a part recorded twice (a redelivered task)
 * counts once.
 */
export interface ChordJoin {
  /** Records how many parts the header has (Celery's `set_chord_size`), before any is sent. */
  setChordSize(groupId: string, size: number): Promise<void>;
  /**
   * Records one part's final outcome. Returns every part, in header order, to the one call
   * that completes the join; `null` to every other call, and to a call for a join whose size
   * is not recorded (cleared, or never set), which records nothing. A part whose task id was already
   * recorded is not counted again: it returns the parts when the join is complete (the
   * first completion may have died before sending the body), else `null`.
   */
  addChordPart(groupId: string, part: ChordPart): Promise<ChordPart[] | null>;
  /** Deletes the join once the body is sent; a late duplicate part then finds nothing. */
  clearChord(groupId: string): Promise<void>;
  /**
   * Records `token` under `key` unless a token is already there, atomically across
   * processes, and returns the token that holds the key (ours, or the first one's). Kept for
   * the backend's result expiry. What makes a chord body run once when it is sent twice (a
   * worker killed after sending it, before clearing the join): each send carries a token of
   * its own, and only messages with the first token to reach a worker run.
   */
  claimOnce(key: string, token: string): Promise<string>;
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
  /**
   * Stores the meta, then acks `delivery`: what the worker does after a task with nothing
   * to send in between, in one round trip where the backend and the delivery's broker
   * share a database (PostgreSQL: one statement and one commit, so the ack never commits
   * without the result). Resolves once both are done; the worker handles a rejection as a
   * failed store (after a failed commit of both, nothing was acked and the delivery is still
   * to be settled). Optional: the worker otherwise awaits `store()`, then `delivery.ack()`.
   */
  storeAndAck?(
    meta: ResultMeta,
    options: StoreOptions | undefined,
    delivery: Delivery,
  ): Promise<void>;
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
  /**
   * The chord counters. Absent where the backend cannot count (rpc://, as in Celery):
   * chords are then refused with ChordsNotSupportedError.
   */
  chordJoin?(): ChordJoin;
  /**
   * Stores a group's result tuple (Celery's `celery-taskset-meta-<id>`: `{"result": ...}`),
   * so a GroupResult can be restored by id. Absent on rpc://.
   */
  saveGroup?(groupId: string, value: JsonValue, options?: StoreOptions): Promise<void>;
  /** The stored group value, or `undefined`. */
  getGroup?(groupId: string): Promise<JsonValue | undefined>;

  // ---- Task listing (the dashboard; task-listing.ts) ----
  /**
   * Stored tasks by filter (state, name, queue, worker, time, argument fields), newest
   * change first, in cursor pages, and counts. Absent where the store cannot list (rpc://
   * sends results to the caller and keeps none). Name, queue, worker and argument filters
   * need the app's `resultExtended`; Redis indexes tasks for listing only with it on.
   */
  taskListing?(): TaskListing;

  // ---- Task history (the dashboard's timeline; task-history.ts) ----
  /**
   * Each task's events, kept beside its result for as long, written by workers and
   * senders when the app's `taskHistory` is on. Absent where the store keeps nothing
   * per task beyond the result (rpc://): the timeline then shows what the meta says.
   */
  taskHistory?(): TaskHistory;

  close(): Promise<void>;
}
