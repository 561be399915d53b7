/**
 * The contract of a worker registry: live workers announce themselves with a heartbeat
 * that expires, so `celeriac status` can list who is online. Implemented beside each
 * result backend. It also keeps the queues paused for every worker (the dashboard's
 * pause), which workers read at start-up and at each heartbeat; it never sends commands.
 */

export interface WorkerInfo {
  hostname: string;
  pid: number;
  queues: string[];
  concurrency: number;
  /** Tasks running at the last heartbeat. */
  active: number;
  /** Unix ms the worker started. */
  startedAt: number;
  /** Unix ms of the last heartbeat. */
  seenAt: number;
  version: string;
}

export interface WorkerRegistry {
  /** Records `info` as alive for `ttlMs`. */
  heartbeat(info: WorkerInfo, ttlMs: number): Promise<void>;
  /** Removes the worker at once (graceful stop). */
  leave(hostname: string): Promise<void>;
  /** Workers whose last heartbeat has not expired, by hostname. */
  online(now: number): Promise<WorkerInfo[]>;
  /**
   * Queues paused for every worker, sorted. Stored with no expiry: a pause holds through
   * restarts of every worker and reaches workers that start later, until it is resumed.
   * A registry without it cannot pause (workers then consume all their queues).
   */
  pausedQueues?(): Promise<string[]>;
  /** Pauses (`true`) or resumes `queue` for every worker, now and later. */
  setQueuePaused?(queue: string, paused: boolean): Promise<void>;
  close(): Promise<void>;
}
