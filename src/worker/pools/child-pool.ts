/**
 * The `threads` and `processes` pools: a set of members (worker threads, or child Node
 * processes), each loading the app module and running one task at a time. The worker
 * hands each run here and gets its outcome back; it keeps the broker, acks, leases,
 * heartbeats and result writes, so a member spinning in `while (true) {}` stalls none of
 * them. A member is killed and replaced at a hard time limit, a revoke with terminate or a
 * cold shutdown; one that dies on its own fails its task with WorkerLostError and is
 * replaced too; `maxTasksPerChild` and `maxMemoryPerChild` retire members after a task.
 */
import type { Task } from '../../app/task.js';
import type { Logger } from '../../logger.js';
import { RemoteTaskError } from '../../protocol/result-meta.js';
import { Retry, type RetryOptions } from '../../app/task-context.js';
import {
  PoolStartError,
  SoftTimeLimitExceededError,
  TaskRevokedError,
  WorkerLostError,
  WorkerShutdownError,
} from '../../errors.js';
import type { TaskRuntime } from '../task-runtime.js';
import type { RunningTask } from '../execute.js';
import type { AbortKind, FromMember, MemberFailure, MemberSetup } from './pool-messages.js';
import { startMember, type MemberKind, type MemberTransport } from './pool-members.js';
import type { TaskPool } from './pool.js';

export interface ChildPoolOptions {
  kind: MemberKind;
  /** The app module as `-A` takes it, resolved to an absolute path. */
  appModule: string;
  size: number;
  /** Replace a member after it ran this many tasks. */
  maxTasksPerChild?: number | undefined;
  /** Replace a member whose memory passed this many KiB after a task. */
  maxMemoryPerChild?: number | undefined;
  logger: Logger;
}

/** An error a task threw in a member, rebuilt in the worker to be stored as it was. */
export class PoolTaskError extends RemoteTaskError {
  /** Whether the task's `autoretryFor` matched it, decided in the member. */
  readonly autoretry: boolean;

  constructor(failure: MemberFailure) {
    super(failure.serialized);
    this.autoretry = failure.autoretry;
    if (failure.stack) this.stack = failure.stack;
  }
}

interface Job {
  readonly id: number;
  readonly runtime: TaskRuntime;
  readonly args: unknown[];
  resolve(value: unknown): void;
  reject(error: unknown): void;
  member: Member | undefined;
  settled: boolean;
}

type MemberState = 'starting' | 'idle' | 'busy' | 'gone';

interface Member {
  transport: MemberTransport;
  state: MemberState;
  job: Job | undefined;
  tasksRun: number;
  /** Leaves the pool after its current task (shrink, max tasks, max memory). */
  retiring: boolean;
  ready: Promise<void>;
  markReady(): void;
  failStart(error: Error): void;
}

export class ChildPool implements TaskPool {
  readonly kind: MemberKind;
  private target: number;
  private readonly members = new Set<Member>();
  private readonly idle: Member[] = [];
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<RunningTask, Job>();
  private nextJob = 1;
  private closing = false;
  private refillTimer: NodeJS.Timeout | undefined;
  private readonly setup: MemberSetup;

  constructor(private readonly options: ChildPoolOptions) {
    this.kind = options.kind;
    this.target = Math.max(1, options.size);
    this.setup = {
      appModule: options.appModule,
      measureMemory: options.maxMemoryPerChild !== undefined,
    };
  }

  get size(): number {
    return this.target;
  }

  pidOf(task: RunningTask): number | undefined {
    return this.jobs.get(task)?.member?.transport.pid;
  }

  /** Members alive now (starting, idle or busy): `pid 123` or `thread 4`. */
  labels(): string[] {
    return [...this.members].map((member) => member.transport.label);
  }

  async start(): Promise<void> {
    const started = Array.from({ length: this.target }, () => this.spawn());
    try {
      await Promise.all(started.map((member) => member.ready));
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  run(runtime: TaskRuntime, _task: Task<unknown[], unknown>, args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextJob++,
        runtime,
        args,
        resolve,
        reject,
        member: undefined,
        settled: false,
      };
      if (this.closing) {
        reject(new WorkerShutdownError());
        return;
      }
      this.jobs.set(runtime, job);
      // Soft limits, revokes and shutdown fire the run's signal: the task's own signal in
      // the member fires with the same reason.
      const signal = runtime.signal;
      signal.addEventListener('abort', () => this.forwardAbort(job, signal.reason), {
        once: true,
      });
      this.queue.push(job);
      this.dispatch();
    });
  }

  stop(task: RunningTask, reason: Error, signal?: NodeJS.Signals): boolean {
    const job = this.jobs.get(task);
    if (!job || job.settled) return false;
    const member = job.member;
    if (member) {
      this.options.logger.warn(
        `Killing pool ${member.transport.label} running ${task.name}[${task.id}]: ${reason.message}`,
      );
      this.remove(member);
      member.transport.kill(this.kind === 'processes' ? (signal ?? 'SIGKILL') : undefined);
      this.refill();
    } else {
      const at = this.queue.indexOf(job);
      if (at !== -1) this.queue.splice(at, 1);
    }
    this.settle(job, false, reason);
    return true;
  }

  grow(n: number): void {
    this.target += Math.max(0, n);
    this.refill();
  }

  shrink(n: number): void {
    const target = Math.max(1, this.target - Math.max(0, n));
    this.target = target;
    let excess = this.members.size - target;
    // Idle members leave now, busy ones after their task.
    for (const member of [...this.idle]) {
      if (excess <= 0) break;
      this.retire(member);
      excess--;
    }
    for (const member of this.members) {
      if (excess <= 0) break;
      if (!member.retiring) {
        member.retiring = true;
        excess--;
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.refillTimer);
    for (const job of this.queue.splice(0)) this.settle(job, false, new WorkerShutdownError());
    const exits = [...this.members].map((member) => {
      const exited = new Promise<void>((resolve) => {
        const previous = member.transport;
        exitWaiters.set(previous, resolve);
      });
      if (member.job) {
        this.settle(member.job, false, new WorkerShutdownError());
        member.transport.kill();
      } else member.transport.close();
      return exited;
    });
    this.members.clear();
    this.idle.length = 0;
    await Promise.race([Promise.all(exits), delay(3000)]);
  }

  private spawn(): Member {
    let markReady!: () => void;
    let failStart!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    ready.catch(() => undefined);
    const member: Member = {
      transport: undefined as unknown as MemberTransport,
      state: 'starting',
      job: undefined,
      tasksRun: 0,
      retiring: false,
      ready,
      markReady,
      failStart,
    };
    member.transport = startMember(this.kind, this.setup, {
      onMessage: (message) => this.receive(member, message),
      onExit: (how) => this.exited(member, how),
    });
    this.members.add(member);
    return member;
  }

  private receive(member: Member, message: FromMember): void {
    switch (message.type) {
      case 'ready':
        if (member.state !== 'starting') return;
        member.markReady();
        this.becomeIdle(member);
        return;
      case 'load-failed': {
        const error = new PoolStartError(
          `A ${this.kind} pool member could not load the app module "${this.setup.appModule}": ${message.message}`,
        );
        this.options.logger.error(error.message);
        member.failStart(error);
        this.remove(member);
        member.transport.kill();
        this.refillLater();
        return;
      }
      case 'state': {
        const job = member.job;
        if (!job || job.id !== message.job) return;
        job.runtime.updateState(message.state, message.meta).then(
          () => member.transport.send({ type: 'stored', seq: message.seq, error: null }),
          (error: Error) =>
            member.transport.send({ type: 'stored', seq: message.seq, error: error.message }),
        );
        return;
      }
      case 'done': {
        const job = member.job;
        if (!job || job.id !== message.job) return;
        member.job = undefined;
        member.tasksRun++;
        this.afterTask(member, message.memoryKiB);
        if (message.ok) this.settle(job, true, message.result);
        else this.settle(job, false, rebuild(message.failure));
        return;
      }
    }
  }

  /** After a task: the member goes back to work, or is replaced when it reached a limit. */
  private afterTask(member: Member, memoryKiB: number): void {
    const { maxTasksPerChild, maxMemoryPerChild } = this.options;
    let why: string | undefined;
    if (maxTasksPerChild !== undefined && member.tasksRun >= maxTasksPerChild)
      why = `it ran ${member.tasksRun} tasks (max tasks per child ${maxTasksPerChild})`;
    else if (maxMemoryPerChild !== undefined && memoryKiB > maxMemoryPerChild)
      why = `it uses ${memoryKiB} KiB (max memory per child ${maxMemoryPerChild} KiB)`;
    if (why !== undefined) {
      this.options.logger.info(`Replacing pool ${member.transport.label}: ${why}`);
      this.retire(member);
      this.refill();
    } else if (member.retiring || this.members.size > this.target) {
      this.retire(member);
    } else {
      this.becomeIdle(member);
    }
  }

  private exited(member: Member, how: string): void {
    exitWaiters.get(member.transport)?.();
    exitWaiters.delete(member.transport);
    if (member.state === 'gone') return;
    const job = member.job;
    const starting = member.state === 'starting';
    this.remove(member);
    // Before its ready message this fails the start; after it, it does nothing.
    member.failStart(startError(this.kind, how));
    if (job) {
      this.options.logger.error(
        `Pool ${member.transport.label} exited (${how}) while running ${job.runtime.name}[${job.runtime.id}]`,
      );
      this.settle(job, false, new WorkerLostError(how));
    }
    // One that could not even start is not replaced in a tight loop.
    if (starting) this.refillLater();
    else this.refill();
  }

  private refillLater(): void {
    if (this.refillTimer || this.closing) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, RESTART_DELAY_MS);
    this.refillTimer.unref();
  }

  private becomeIdle(member: Member): void {
    member.state = 'idle';
    this.idle.push(member);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const member = this.idle.pop() as Member;
      const job = this.queue.shift() as Job;
      member.state = 'busy';
      member.job = job;
      job.member = member;
      member.transport.send({
        type: 'run',
        job: job.id,
        facts: factsOf(job.runtime),
        args: job.args,
      });
      // Aborted while it waited for a member: the member's task starts aborted.
      if (job.runtime.aborted) this.forwardAbort(job, job.runtime.aborted.reason);
    }
  }

  private forwardAbort(job: Job, reason: unknown): void {
    if (!job.member || job.settled) return;
    job.member.transport.send({ type: 'abort', job: job.id, reason: abortKind(reason) });
  }

  private settle(job: Job, ok: boolean, value: unknown): void {
    if (job.settled) return;
    job.settled = true;
    this.jobs.delete(job.runtime);
    if (ok) job.resolve(value);
    else job.reject(value);
  }

  /** Takes a member out of the pool now (it is being killed or has gone). */
  private remove(member: Member): void {
    member.state = 'gone';
    member.job = undefined;
    this.members.delete(member);
    const at = this.idle.indexOf(member);
    if (at !== -1) this.idle.splice(at, 1);
  }

  private retire(member: Member): void {
    this.remove(member);
    member.transport.close();
  }

  /** Starts members until the pool is back at its size. */
  private refill(): void {
    if (this.closing) return;
    while (this.members.size < this.target) {
      const member = this.spawn();
      member.ready.catch((error: Error) => {
        if (!this.closing)
          this.options.logger.error(`Could not replace a pool member: ${error.message}`);
      });
    }
  }
}

/** How long the pool waits before it starts again a member that could not start. */
const RESTART_DELAY_MS = 1000;

const exitWaiters = new WeakMap<MemberTransport, () => void>();

function startError(kind: MemberKind, how: string): PoolStartError {
  return new PoolStartError(`A ${kind} pool member exited before it was ready (${how}).`);
}

function factsOf(runtime: TaskRuntime) {
  return {
    id: runtime.id,
    name: runtime.name,
    retries: runtime.retries,
    args: runtime.args as unknown[],
    kwargs: runtime.kwargs as Record<string, unknown>,
    queue: runtime.queue,
    rootId: runtime.rootId,
    parentId: runtime.parentId,
    groupId: runtime.groupId,
    hostname: runtime.hostname,
    redelivered: runtime.redelivered,
  };
}

function abortKind(reason: unknown): AbortKind {
  if (reason instanceof SoftTimeLimitExceededError)
    return { kind: 'soft', seconds: reason.seconds };
  if (reason instanceof TaskRevokedError) return { kind: 'revoked' };
  if (reason instanceof WorkerShutdownError) return { kind: 'shutdown' };
  return { kind: 'other', message: reason instanceof Error ? reason.message : String(reason) };
}

/** A member's failure as the error the executor settles: a Retry, or the task's error. */
function rebuild(failure: MemberFailure): Error {
  if (!failure.retry) return new PoolTaskError(failure);
  const { countdown, eta, maxRetries, error } = failure.retry;
  const options: RetryOptions = {};
  if (countdown !== undefined) options.countdown = countdown;
  if (eta !== undefined) options.eta = eta;
  if (maxRetries !== undefined) options.maxRetries = maxRetries;
  if (error !== undefined) options.error = rebuild(error);
  return new Retry(options);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
