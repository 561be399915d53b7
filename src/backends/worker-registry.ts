/**
 * The contract of a worker registry: live workers announce themselves with a heartbeat
 * that expires, so `celeriac status` can list who is online. Implemented beside each
 * result backend; it records presence only and never controls a worker.
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
  close(): Promise<void>;
}
