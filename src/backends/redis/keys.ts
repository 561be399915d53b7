/**
 * The result backend's keys: Celery's (`celery-task-meta-<id>`, whose pub/sub channel has
 * the same name, and the chord join `celery-taskset-meta-<gid>.j/.s/.t`) and two of ours
 * for revocations. Must never rename a Celery key: Python clients read results under these.
 */
export class ResultKeyspace {
  /** Ours: revoked task id -> unix ms until which the revocation holds. */
  readonly revoked: string;
  /** Ours: channel carrying `{"ids": [...], "terminate": bool}` for each revoke. */
  readonly revokeChannel: string;
  /** Ours, with `resultExtended` only: task id -> unix ms of its latest store, for listing. */
  readonly taskIndex: string;
  /** Ours, with `resultExtended`: every state a task was indexed under (a set). */
  readonly indexedStates: string;
  /** Ours, with `resultExtended`: stores by `name\0queue\0state` since the store began (a hash). */
  readonly taskTotals: string;
  /** Ours, with `resultExtended`: run times, `name\0<bucket>` counts and `name\0sum` seconds (a hash). */
  readonly taskRuntimes: string;

  constructor(readonly prefix: string = '') {
    this.revoked = `${prefix}celeriac.revoked`;
    this.revokeChannel = `${prefix}celeriac.revoke`;
    this.taskIndex = `${prefix}celeriac.task-index`;
    this.indexedStates = `${prefix}celeriac.task-index.states`;
    this.taskTotals = `${prefix}celeriac.task-counts`;
    this.taskRuntimes = `${prefix}celeriac.task-runtimes`;
  }

  /**
   * Ours, with `resultExtended`: task id -> unix ms of its latest store, for the tasks of
   * one `state`, `name`, `queue`, `worker` or `field` entry (task-index.ts, `field=JSON`).
   */
  taskIndexOf(kind: 'state' | 'name' | 'queue' | 'worker' | 'field', value: string): string {
    return `${this.taskIndex}:${kind}:${value}`;
  }

  /** Ours, with `resultExtended`: stores in one minute (unix ms / 60000) by `name\0queue\0state` (a hash). */
  taskCounts(minute: number): string {
    return `${this.taskTotals}:${minute}`;
  }

  /** Ours, with the app's `taskHistory`: the task's events (task-history.ts), a capped list expiring with its result. */
  taskEvents(taskId: string): string {
    return `${this.prefix}celeriac.task-events:${taskId}`;
  }

  /** Celery's result key, also the channel its updates are published on. */
  meta(taskId: string): string {
    return `${this.prefix}celery-task-meta-${taskId}`;
  }

  /** Celery's saved group (`GroupResult.save()`), also its channel. */
  group(groupId: string): string {
    return `${this.prefix}celery-taskset-meta-${groupId}`;
  }

  /** Celery's chord join keys: `.j` the parts (a zset scored by group_index), `.t` the
   * added-parts counter (`add_to_chord`), `.s` the header size. */
  chord(groupId: string): [join: string, added: string, size: string] {
    const base = this.group(groupId);
    return [`${base}.j`, `${base}.t`, `${base}.s`];
  }

  /** A one-time claim (ChordJoin.claimOnce): a chord body's first send token. */
  once(key: string): string {
    return `${this.prefix}celeriac-once-${key}`;
  }

  /** The task id inside a meta key or channel name, or undefined. */
  taskIdOf(key: string): string | undefined {
    const head = `${this.prefix}celery-task-meta-`;
    return key.startsWith(head) ? key.slice(head.length) : undefined;
  }
}
