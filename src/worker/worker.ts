/**
 * The worker runtime: consumes queues, admits each delivery, runs up to `concurrency`
 * tasks at once through its pool (this event loop, threads or child processes), and stops
 * gracefully. It installs no signal handlers and never exits the process: the CLI layer
 * does that, so tests and users can embed a worker.
 */
import os from 'node:os';
import type { Consumer, Delivery } from '../brokers/broker.js';
import type { ResultBackend, Unsubscribe } from '../backends/backend.js';
import type { Celeriac } from '../app/celeriac.js';
import { TaskRevokedError, WorkerShutdownError } from '../errors.js';
import { createPool, type PoolKind, type TaskPool } from './pools/pool.js';
import {
  admit,
  admitWithArgs,
  discardDropped,
  execute,
  type Admission,
  type ExecutorDeps,
  type RunningTask,
} from './execute.js';
import { createLineLogger, type Logger } from '../logger.js';
import { metaFor } from './result-states.js';
import type { WorkerRegistry } from '../backends/worker-registry.js';
import { VERSION } from '../version.js';
import { FlowControl, type FlowGate, type WorkerFlowState } from '../flow/flow-control.js';
import { DEBOUNCE_HEADER, FAIR_HEADER } from '../flow/flow-headers.js';
import type { Rate } from '../app/task-options.js';
import { ControlPlane } from './control/control-plane.js';
import type { ControlTarget, WorkerSnapshot } from './control/target.js';
import { bothListeners } from './events/task-events.js';
import { TaskHistorySink } from './events/task-history-sink.js';
import { TaskHistoryRecorder } from '../app/task-history-recorder.js';

/** How often a worker tells the registry it is alive, and how long that lasts (Celery: 2 s). */
const HEARTBEAT_MS = 2000;
const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_MS;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WorkerOptions {
  /** Queues to consume. @default [app's defaultQueue] */
  queues?: string[] | undefined;
  /** Tasks run at once (threads or children for those pools). @default 10 */
  concurrency?: number | undefined;
  /**
   * What runs the tasks: `async` (this event loop: many I/O-bound tasks at once), `threads`
   * (one worker thread per slot) or `processes` (one child process per slot), the last two
   * for CPU-bound work: a busy task there never stalls the worker, and a hard time limit or
   * a revoke with terminate kills and replaces its thread or child. @default 'async'
   */
  pool?: PoolKind | undefined;
  /**
   * The module that exports the app, as `-A` takes it (`src/tasks.ts`, `dist/app.js:app`):
   * the `threads` and `processes` pools load it in each thread or child. The CLI sets it.
   * @example appModule: fileURLToPath(new URL('./tasks.ts', import.meta.url))
   */
  appModule?: string | undefined;
  /**
   * Grow the pool up to `max` slots while tasks wait, shrink it back to `min` once they have
   * not for `keepalive` seconds (Celery's `--autoscale max,min`). Overrides `concurrency`.
   */
  autoscale?: { max: number; min: number; keepalive?: number | undefined } | undefined;
  /** Replace a thread or child after it ran this many tasks (threads, processes). */
  maxTasksPerChild?: number | undefined;
  /**
   * Replace a child whose resident memory (a thread: its own V8 heap) passed this many KiB
   * after a task, as Celery's `--max-memory-per-child` (threads, processes).
   */
  maxMemoryPerChild?: number | undefined;
  /**
   * Hard time limit in seconds for tasks whose message and options set none (Celery's
   * `--time-limit`): TimeLimitExceeded, the thread or child killed and replaced.
   */
  timeLimit?: number | undefined;
  /** Soft time limit in seconds for tasks that set none: the task's signal fires. */
  softTimeLimit?: number | undefined;
  /**
   * Messages reserved per slot beyond the running ones, so the next task is at hand when
   * one ends: the broker's prefetch is concurrency × (multiplier + 1), the window Celery's
   * default early acks give. @default 4 (Celery's worker_prefetch_multiplier)
   */
  prefetchMultiplier?: number | undefined;
  /** This worker's name. @default `celeriac@<host>` */
  hostname?: string | undefined;
  /** Seconds a graceful stop waits for running tasks before giving them back. @default 30 */
  shutdownTimeout?: number | undefined;
  logger?: Logger | undefined;
  /**
   * Send Celery's task events (task-received, started, succeeded, failed, retried,
   * revoked, rejected) to `celeryev`, as `celery worker -E` does.
   * @default the app's `workerSendTaskEvents` (false)
   */
  taskEvents?: boolean | undefined;
  /** Send worker-online, worker-heartbeat (every 2 s) and worker-offline. @default true (Celery's) */
  workerEvents?: boolean | undefined;
  /** Answer remote control (`celery inspect`, `celery control`) on the pidbox. @default true */
  remoteControl?: boolean | undefined;
  /** Called on a remote `shutdown` command. @default the worker stops warmly (the process stays) */
  onRemoteShutdown?: ((reason: string) => void) | undefined;
}

type State = 'idle' | 'running' | 'stopping' | 'stopped';

export class Worker implements ControlTarget {
  readonly queues: string[];
  readonly hostname: string;
  readonly poolKind: PoolKind;
  /** Slots: tasks run at once now (grows and shrinks with autoscale, poolGrow, poolShrink). */
  private slots: number;
  private readonly pool: TaskPool;
  /** Bounds of autoscale; remote control's `autoscale` changes them. */
  private readonly autoscale: { max: number; min: number; keepaliveMs: number } | undefined;
  private autoscaleTimer: NodeJS.Timeout | undefined;
  private lastBusyAt = 0;
  private readonly limits: { soft: number | undefined; hard: number | undefined };
  private readonly logger: Logger;
  /** Unsettled deliveries the consumer may hold: follows the slots (prefetchFor). */
  private prefetch: number;
  private readonly prefetchMultiplier: number;
  private readonly shutdownTimeoutMs: number;
  private readonly waiting: Delivery[] = [];
  /** Deliveries not due yet, held unsettled outside the slots (brokers without delayed delivery). */
  private readonly held = new Map<Delivery, NodeJS.Timeout>();
  /** Deliveries taken from `waiting` and not finished with (running, storing or settling). */
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly running = new Map<string, RunningTask>();
  private readonly revoked = new Set<string>();
  /** RECEIVED stores still pending, by delivery, awaited before the delivery is worked on (trackReceived). */
  private readonly receiving = new Map<Delivery, Promise<void>>();
  private active = 0;
  /** Tasks whose code has ended and whose outcome is still being stored and settled. */
  private settling = 0;
  private state: State = 'idle';
  private consumer: Consumer | undefined;
  private stopRevokes: Unsubscribe | undefined;
  private deps: ExecutorDeps | undefined;
  private drained: (() => void) | undefined;
  /** Ends a stop's wait for running tasks early (a soft shutdown's deadline). */
  private cutWait: (() => void) | undefined;
  private registry: WorkerRegistry | undefined;
  /** Queues paused for every worker, as the registry last said (the dashboard's pause). */
  private paused = new Set<string>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Rate and concurrency limits (src/flow/); asked only for tasks that declare some. */
  private flow: FlowControl | undefined;
  /** Unix ms when this worker was made. */
  readonly startedAt = Date.now();
  private readonly options: WorkerOptions;
  private controlPlane: ControlPlane | undefined;
  /** The task history's writer and the executor's listener for it (the app's `taskHistory`). */
  private historyRecorder: TaskHistoryRecorder | undefined;
  private historySink: TaskHistorySink | undefined;
  private readonly totals = new Map<string, number>();
  /** The last consumer swap (reconsume), which the next one waits for. */
  private swapping: Promise<void> = Promise.resolve();

  constructor(
    readonly app: Celeriac,
    options: WorkerOptions = {},
  ) {
    this.queues = options.queues?.length ? options.queues : [app.config.defaultQueue];
    const scale = options.autoscale;
    if (scale) {
      const max = Math.max(1, scale.max);
      this.autoscale = {
        max,
        min: Math.min(max, Math.max(1, scale.min)),
        keepaliveMs: (scale.keepalive ?? 30) * 1000,
      };
    }
    this.slots = this.autoscale ? this.autoscale.min : Math.max(1, options.concurrency ?? 10);
    this.prefetchMultiplier = Math.max(1, options.prefetchMultiplier ?? 4);
    this.prefetch = this.prefetchFor(this.slots);
    this.options = options;
    this.hostname = options.hostname ?? `celeriac@${os.hostname()}`;
    this.shutdownTimeoutMs = (options.shutdownTimeout ?? 30) * 1000;
    this.logger = options.logger ?? createLineLogger({ name: 'worker' });
    this.poolKind = options.pool ?? 'async';
    this.pool = createPool({
      kind: this.poolKind,
      size: this.slots,
      appModule: options.appModule,
      maxTasksPerChild: options.maxTasksPerChild,
      maxMemoryPerChild: options.maxMemoryPerChild,
      logger: this.logger,
    });
    this.limits = { soft: options.softTimeLimit, hard: options.timeLimit };
  }

  /** Tasks run at once now. */
  get concurrency(): number {
    return this.slots;
  }

  /** How many unsettled deliveries the broker may hand this worker. */
  get prefetchCount(): number {
    return this.prefetch;
  }

  /** How many tasks are running now. */
  get activeCount(): number {
    return this.active;
  }

  /** How many ended tasks still have their outcome stored and their message settled. */
  get settlingCount(): number {
    return this.settling;
  }

  /** Connects and starts consuming. Resolves once the consumer is ready. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`Worker already ${this.state}.`);
    this.state = 'running';
    const broker = await this.app.broker();
    const backend = await this.app.resultBackend().catch(() => undefined);
    try {
      this.flow = await FlowControl.open(
        this.app,
        backend,
        { hold: (d, dueAt) => this.hold(d, dueAt), wake: (d) => this.wake(d) },
        this.logger,
        this.hostname,
      );
    } catch (error) {
      this.state = 'stopped';
      throw error;
    }
    this.deps = {
      app: this.app,
      broker,
      backend,
      logger: this.logger,
      logsInfo: this.logger.isLevelEnabled?.('info') ?? true,
      storeOptions: { expiresMs: this.app.config.resultExpiresMs },
      hostname: this.hostname,
      resultExtended: this.app.config.resultExtended,
      running: this.running,
      revoked: this.revoked,
      hold: (delivery, dueAt) => this.hold(delivery, dueAt),
      pool: this.pool,
      softTimeLimit: this.limits.soft,
      timeLimit: this.limits.hard,
    };
    // Before the consumer starts: the first deliveries come at once, and their events count.
    this.startHistory(backend);
    this.deps.events = this.historySink;
    // Threads and children load the app first: a module that fails to load stops the start.
    await this.pool.start();
    if (backend) this.stopRevokes = await this.watchRevokes(backend);
    this.registry = backend?.workerRegistry?.();
    // A queue paused before this worker started stays untouched from its first consume on.
    await this.readPaused();
    const consumed = this.consumedQueues();
    if (consumed.length > 0)
      this.consumer = await broker.consume({
        queues: consumed,
        prefetch: this.prefetch,
        onDelivery: (delivery) => this.accept(delivery),
        onError: (error) => this.logger.warn(`Broker error (recovering): ${error.message}`),
      });
    this.controlPlane = await ControlPlane.start(this, broker, {
      remoteControl: this.options.remoteControl ?? true,
      workerEvents: this.options.workerEvents ?? true,
      taskEvents: this.options.taskEvents ?? this.app.config.workerSendTaskEvents,
      logger: this.logger,
    });
    this.deps.events = bothListeners(this.controlPlane.taskEvents, this.historySink);
    await this.beat();
    if (this.autoscale) this.startAutoscale();
    const scale = this.autoscale ? ` autoscale=${this.autoscale.max},${this.autoscale.min}` : '';
    const paused = this.queues.filter((queue) => this.paused.has(queue));
    this.logger.info(
      `${this.hostname} ready: queues=${this.queues.join(',')} ` +
        (paused.length > 0 ? `paused=${paused.join(',')} ` : '') +
        `pool=${this.poolKind} ` +
        `concurrency=${this.concurrency}${scale} ` +
        `broker=${broker.kind} tasks=${this.app.taskNames().join(',') || '(none)'}`,
    );
  }

  /**
   * Stops taking tasks, gives back reserved ones, waits up to the shutdown timeout for
   * running ones, then gives back those still running (they run again elsewhere).
   */
  async stop(options: { timeout?: number } = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'idle') {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'stopping') return this.waitStopped();
    this.state = 'stopping';
    this.logger.info(
      `${this.hostname} stopping: ${this.active} running, ${this.waiting.length} reserved`,
    );
    await this.consumer?.cancel();
    await this.giveBackWaiting();
    clearInterval(this.autoscaleTimer);
    const timeoutMs =
      options.timeout !== undefined ? options.timeout * 1000 : this.shutdownTimeoutMs;
    const finished = await this.waitForRunning(timeoutMs);
    if (!finished) await this.terminate();
    await this.stopControl();
    await this.pool.close();
    await this.flow?.close();
    await this.stopRevokes?.();
    await this.leaveRegistry();
    this.state = 'stopped';
    this.drained?.();
  }

  /**
   * Celery 5.5's soft shutdown: running tasks get `seconds` more to finish (counted from
   * now, and never later than a warm stop's own deadline), then what still runs goes back
   * to the queue. Starts the stop when it has not begun. Resolves when the worker stopped.
   */
  softStop(seconds: number): Promise<void> {
    if (this.state === 'running') return this.stop({ timeout: seconds });
    if (this.state !== 'stopping') return Promise.resolve();
    const timer = setTimeout(() => this.cutWait?.(), seconds * 1000);
    timer.unref();
    return this.waitStopped();
  }

  /** Stops at once: running tasks are aborted and their messages go back to the queue. */
  async terminate(): Promise<void> {
    clearInterval(this.autoscaleTimer);
    const shutdown = new WorkerShutdownError();
    for (const task of this.running.values()) {
      task.abort(shutdown);
      // Threads and children are killed now: their task ends with the shutdown and its
      // message goes back (the async pool can only fire the signal).
      this.pool.stop(task, shutdown);
    }
    await this.giveBackWaiting();
    await Promise.race([this.allFinished(), delay(1000)]);
    // A task that ignores its signal (or blocks on something that does) has not ended:
    // its message goes back now, to run again elsewhere, instead of waiting for a lease.
    const stuck = [...this.running.values()];
    if (stuck.length > 0) {
      this.logger.warn(
        `${this.hostname}: ${stuck.length} task(s) did not stop when aborted, given back to the queue`,
      );
      await Promise.allSettled(stuck.map((task) => task.giveBack()));
    }
    await this.stopControl();
    await this.pool.close();
    await this.leaveRegistry();
  }

  /** Announces this worker as alive, then again every heartbeat, until it stops. */
  private async beat(): Promise<void> {
    if (!this.registry || (this.state !== 'running' && this.state !== 'stopping')) return;
    try {
      await this.registry.heartbeat(
        {
          hostname: this.hostname,
          pid: process.pid,
          queues: this.consumedQueues(),
          concurrency: this.concurrency,
          active: this.active,
          startedAt: this.startedAt,
          seenAt: Date.now(),
          version: VERSION,
        },
        HEARTBEAT_TTL_MS,
      );
    } catch (error) {
      this.logger.warn(`Could not record the worker heartbeat: ${(error as Error).message}`);
    }
    if (this.state === 'running') await this.followPaused();
    this.heartbeatTimer = setTimeout(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  /** The queues this worker consumes now: its own, less those paused for every worker. */
  private consumedQueues(): string[] {
    return this.queues.filter((queue) => !this.paused.has(queue));
  }

  /** Reads the stored pauses; answers whether the queues this worker consumes changed. */
  private async readPaused(): Promise<boolean> {
    if (!this.registry?.pausedQueues) return false;
    let paused: string[];
    try {
      paused = await this.registry.pausedQueues();
    } catch (error) {
      this.logger.warn(`Could not read the paused queues: ${(error as Error).message}`);
      return false;
    }
    const before = this.consumedQueues().join('\n');
    const had = this.paused;
    this.paused = new Set(paused);
    for (const queue of this.queues) {
      if (this.paused.has(queue) && !had.has(queue)) this.logger.info(`Queue ${queue} paused`);
      if (!this.paused.has(queue) && had.has(queue)) this.logger.info(`Queue ${queue} resumed`);
    }
    return this.consumedQueues().join('\n') !== before;
  }

  /** At each heartbeat: stops or starts consuming the queues paused or resumed since. */
  private async followPaused(): Promise<void> {
    if (await this.readPaused())
      await this.reconsume().catch((error: unknown) => {
        this.logger.warn(`Could not follow a queue pause: ${(error as Error).message}`);
      });
  }

  private async leaveRegistry(): Promise<void> {
    clearTimeout(this.heartbeatTimer);
    if (!this.registry) return;
    await this.registry.leave(this.hostname).catch(() => undefined);
    await this.registry.close().catch(() => undefined);
    this.registry = undefined;
  }

  /** Resolves when the worker has fully stopped. */
  waitStopped(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }

  private accept(delivery: Delivery): void {
    if (this.state !== 'running') {
      void delivery.reject({ requeue: true, reason: 'worker stopping' }).catch(() => undefined);
      return;
    }
    // A fairness token may run another task: its own id gets no RECEIVED (it may have run).
    if (this.app.config.trackReceived && !this.flow?.isFairToken(delivery))
      this.storeReceived(delivery);
    this.deps?.events?.received(delivery.message);
    this.waiting.push(delivery);
    this.pump();
  }

  /** Records RECEIVED for a message whose headers name its task id; what follows waits for it. */
  private storeReceived(delivery: Delivery): void {
    const backend = this.deps?.backend;
    const headers = delivery.message.headers as Record<string, unknown> | undefined;
    const id = headers?.id;
    if (!backend || typeof id !== 'string' || id === '') return;
    const parentId = typeof headers?.parent_id === 'string' ? headers.parent_id : null;
    const groupId = typeof headers?.group === 'string' ? headers.group : null;
    const meta = metaFor({ id, parentId, groupId }, 'RECEIVED', { hostname: this.hostname });
    const stored = backend
      .store(meta, {
        expiresMs: this.app.config.resultExpiresMs,
        ...receivedRoute(delivery, id),
      })
      .catch((error: Error) => {
        this.logger.warn({ id }, `Could not store state RECEIVED: ${error.message}`);
      });
    this.receiving.set(delivery, stored);
  }

  /** Keeps a delivery that is not due until `dueAt`, then admits it again (it is due then). */
  private hold(delivery: Delivery, dueAt: number): void {
    if (this.state !== 'running') {
      void delivery.reject({ requeue: true, reason: 'worker stopping' }).catch(() => undefined);
      return;
    }
    // setTimeout's longest wait is about 24.8 days: a later ETA is simply held again.
    const timer = setTimeout(
      () => {
        this.held.delete(delivery);
        this.accept(delivery);
      },
      Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMER_MS),
    );
    timer.unref();
    this.held.set(delivery, timer);
  }

  /** Admits a held delivery now (flow control: a slot it waits for was freed here). */
  private wake(delivery: Delivery): void {
    const timer = this.held.get(delivery);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.held.delete(delivery);
    this.accept(delivery);
  }

  /**
   * Flow control as this worker sees it: each limited task's current rate here (runs let
   * through per second over the last 10 s) and the deliveries it holds waiting, by key and
   * reason. The shared state (buckets, slots, windows, backlogs) is `app.flow.state(name)`.
   */
  flowState(): WorkerFlowState[] {
    return this.flow?.state() ?? [];
  }

  /**
   * Sets this worker's own rate limit of a task (`'10/s'`, `'100/m'`; 0 or null removes
   * it), as Celery's `rate_limit` remote-control command does. The worker must be started.
   */
  setRateLimit(taskName: string, rate: Rate | null): void {
    if (!this.flow) throw new Error('Start the worker before setting a rate limit.');
    this.flow.setRateLimit(taskName, rate);
    this.logger.info(
      rate === null || rate === 0
        ? `Rate limits disabled for tasks of type ${taskName}`
        : `New rate limit for tasks of type ${taskName}: ${typeof rate === 'number' ? `${rate}/s` : String(rate)}`,
    );
  }

  private pump(): void {
    while (this.active < this.slots && this.waiting.length > 0 && this.state === 'running') {
      const delivery = this.waiting.shift() as Delivery;
      this.active++;
      this.inFlight++;
      void this.process(new Slot(this, delivery));
    }
  }

  /**
   * The task's code has ended: its slot goes to the next task while its outcome is stored
   * and its message settled. The broker may fetch meanwhile too, unless a prefetch's worth
   * of settles is already pending: a slow backend must slow the intake, not grow a backlog.
   * Returns whether the slot now counts as settling.
   */
  slotEnded(delivery: Delivery): boolean {
    this.active--;
    let settling = false;
    if (this.settling < this.prefetch) {
      settling = true;
      this.settling++;
      delivery.release();
    }
    this.pump();
    return settling;
  }

  private async process(slot: Slot): Promise<void> {
    let { delivery } = slot;
    const deps = this.deps as ExecutorDeps;
    try {
      const received = this.receiving.size > 0 ? this.receiving.get(delivery) : undefined;
      if (received) {
        this.receiving.delete(delivery);
        await received;
      }
      // Fairness: the message is a token of its task's round-robin; it runs the next key's task.
      if (this.flow?.fair === true && typeof delivery.message.headers[FAIR_HEADER] === 'string') {
        const run = await this.flow.takeFair(delivery);
        if (run === null) return;
        delivery = run;
      }
      const admitted = admit(delivery, deps);
      const admission = admitted instanceof Promise ? await admitted : admitted;
      if (admission.kind === 'run') {
        // Flow control: a task with limits runs once they let it through, else it is held.
        const gate = this.flow?.gateFor(admission.task.name);
        if (gate === undefined) await execute(delivery, admission, deps, slot);
        else await this.runGated(gate, delivery, admission, deps, slot);
        const name = admission.task.name;
        this.totals.set(name, (this.totals.get(name) ?? 0) + 1);
        this.controlPlane?.noteProcessed();
      }
    } catch (error) {
      // Settling failed (broker gone?): the lease expires and the message comes back.
      this.logger.error(
        `Could not settle a message from ${delivery.queue}: ${(error as Error).message}`,
      );
    } finally {
      if (slot.ended) {
        if (slot.settling) this.settling--;
      } else {
        // Settled without running (refused, deferred, or the run never ended): just free the slot.
        slot.ended = true;
        this.active--;
        this.pump();
      }
      if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** A task with flow limits: debounce's arguments first, then the limits, then the run. */
  private async runGated(
    gate: FlowGate,
    delivery: Delivery,
    admitted: Extract<Admission, { kind: 'run' }>,
    deps: ExecutorDeps,
    slot: Slot,
  ): Promise<void> {
    const flow = this.flow!;
    let admission: Admission = admitted;
    const window = delivery.message.headers[DEBOUNCE_HEADER];
    if (gate.debounce && typeof window === 'string') {
      const outcome = await flow.debounced(delivery, window, admitted.decoded.id);
      if ('held' in outcome) return;
      if ('args' in outcome)
        admission = await admitWithArgs(delivery, admitted, outcome.args, deps);
      if (admission.kind !== 'run') return;
    }
    const ticket = await flow.enter(gate, delivery, admission.args);
    if (ticket === null) return;
    if ('drop' in ticket) return discardDropped(delivery, admission.decoded, ticket.drop, deps);
    await execute(delivery, admission, deps, slot).finally(() => flow.leave(ticket));
  }

  private async giveBackWaiting(): Promise<void> {
    const waiting = this.waiting.splice(0);
    for (const [delivery, timer] of this.held) {
      clearTimeout(timer);
      waiting.push(delivery);
    }
    this.held.clear();
    for (const delivery of waiting) this.receiving.delete(delivery);
    await Promise.allSettled(
      waiting.map((d) => d.reject({ requeue: true, reason: 'worker stopping' })),
    );
  }

  private async waitForRunning(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    const all = this.allFinished().then(() => true);
    const cut = new Promise<void>((resolve) => (this.cutWait = resolve));
    return Promise.race([
      all,
      Promise.race([delay(timeoutMs), cut]).then(() => this.inFlight === 0),
    ]);
  }

  /** Resolves once no delivery taken from `waiting` is still being worked on. */
  private allFinished(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- Remote control (ControlTarget): what `inspect` reads and `control` changes ----

  taskTotals(): ReadonlyMap<string, number> {
    return this.totals;
  }

  snapshot(): WorkerSnapshot {
    return {
      running: [...this.running.values()],
      reserved: [...this.waiting],
      scheduled: [...this.held.keys()].map((delivery) => ({
        delivery,
        dueAt: dueAtOf(delivery),
      })),
    };
  }

  revokedIds(): string[] {
    return [...this.revoked];
  }

  /** Grows (delta > 0) or shrinks the pool, as remote control's pool_grow / pool_shrink. */
  resizePool(delta: number): number {
    if (delta > 0) this.poolGrow(delta);
    else if (delta < 0) this.poolShrink(-delta);
    this.logger.info(`Pool resized to ${this.slots} slots`);
    return this.slots;
  }

  async addQueue(queue: string): Promise<void> {
    if (this.queues.includes(queue)) return;
    this.queues.push(queue);
    await this.reconsume();
    this.logger.info(`Started consuming from ${queue}`);
  }

  async cancelQueue(queue: string): Promise<void> {
    const index = this.queues.indexOf(queue);
    if (index === -1) return;
    this.queues.splice(index, 1);
    await this.reconsume();
    this.logger.info(`Stopped consuming from ${queue}`);
  }

  requestShutdown(reason: string): void {
    this.logger.warn(reason);
    if (this.options.onRemoteShutdown) this.options.onRemoteShutdown(reason);
    else void this.stop();
  }

  sendHeartbeat(): void {
    this.controlPlane?.sendHeartbeat();
  }

  setTaskEvents(on: boolean): boolean {
    const changed = this.controlPlane?.setTaskEvents(on) ?? false;
    if (this.deps)
      this.deps.events = bothListeners(this.controlPlane?.taskEvents, this.historySink);
    return changed;
  }

  /**
   * A new consumer for the current queue list and prefetch; held deliveries stay valid
   * through the swap. Swaps run one after another (add_consumer, cancel_consumer and a
   * resize may come together), each with the queues and prefetch of its turn.
   */
  private reconsume(): Promise<void> {
    const swap = this.swapping.then(() => this.swapConsumer());
    this.swapping = swap.catch(() => undefined);
    return swap;
  }

  private async swapConsumer(): Promise<void> {
    if (this.state !== 'running') return;
    const broker = this.deps!.broker;
    const previous = this.consumer;
    this.consumer = undefined;
    await previous?.cancel();
    const queues = this.consumedQueues();
    if (queues.length === 0) return;
    this.consumer = await broker.consume({
      queues,
      prefetch: this.prefetch,
      onDelivery: (delivery) => this.accept(delivery),
      onError: (error) => this.logger.warn(`Broker error (recovering): ${error.message}`),
    });
  }

  private async stopControl(): Promise<void> {
    const plane = this.controlPlane;
    this.controlPlane = undefined;
    if (this.deps) this.deps.events = this.historySink;
    await plane?.stop();
    await this.historyRecorder?.close();
  }

  /** The app's `taskHistory`: this worker's task events go to the backend's history. */
  private startHistory(backend: ResultBackend | undefined): void {
    if (!this.app.config.taskHistory || this.historySink) return;
    const history = backend?.taskHistory?.();
    if (!history) {
      this.logger.warn(
        `Task history is off: the ${backend?.kind ?? 'missing'} result backend keeps none (use SQLite, Redis, PostgreSQL or memory).`,
      );
      return;
    }
    let warned = 0;
    this.historyRecorder = new TaskHistoryRecorder(
      () => Promise.resolve(history),
      this.hostname,
      this.app.config.resultExpiresMs,
      (error) => {
        // One line a minute at most: a backend outage must not flood the log.
        if (Date.now() - warned < 60_000) return;
        warned = Date.now();
        this.logger.warn(`Could not record task events in the history: ${error.message}`);
      },
    );
    this.historySink = new TaskHistorySink(this.historyRecorder);
  }

  private watchRevokes(backend: ResultBackend): Promise<Unsubscribe> {
    return backend.onRevoke((taskId, terminate) => {
      this.revoke([taskId], { terminate });
    });
  }

  /**
   * Revokes tasks in this worker (the hook remote control's `revoke` calls; the shared,
   * lasting record is the result backend's, `AsyncResult.revoke()`): they will not run
   * here, and with `terminate` a running one is stopped: its signal fires with
   * TaskRevokedError and, on the threads and processes pools, its thread or child is killed
   * (a child gets `signal`, default SIGTERM, then SIGKILL after 2 s) and replaced. It is
   * recorded REVOKED. Returns the ids that were running and were terminated.
   */
  revoke(
    ids: string | readonly string[],
    options: { terminate?: boolean | undefined; signal?: NodeJS.Signals | undefined } = {},
  ): string[] {
    const terminated: string[] = [];
    for (const taskId of typeof ids === 'string' ? [ids] : ids) {
      this.revoked.add(taskId);
      const running = this.running.get(taskId);
      if (!running || !options.terminate) continue;
      this.logger.info(`Terminating revoked task ${running.name}[${taskId}]`);
      const reason = new TaskRevokedError(taskId);
      running.abort(reason);
      this.pool.stop(running, reason, options.signal ?? 'SIGTERM');
      terminated.push(taskId);
    }
    return terminated;
  }

  /**
   * Adds `n` slots (threads or children for those pools), as remote control's `pool_grow`,
   * and raises the prefetch with them so the new slots get work.
   */
  poolGrow(n = 1): void {
    this.pool.grow(n);
    this.slots = this.pool.size;
    this.followSlots();
    this.pump();
  }

  /**
   * Removes `n` slots, keeping one; busy threads or children leave after their task. The
   * prefetch comes down with them: reserved deliveries beyond it stay and run here.
   */
  poolShrink(n = 1): void {
    this.pool.shrink(n);
    this.slots = this.pool.size;
    this.followSlots();
  }

  /**
   * The broker's prefetch for a number of slots: slots × (multiplier + 1), the window
   * Celery's early acks give; with autoscale, sized for its maximum from the start (so
   * waiting tasks show the autoscaler the load), and past it when pool_grow goes further.
   */
  private prefetchFor(slots: number): number {
    return Math.max(slots, this.autoscale?.max ?? 0) * (this.prefetchMultiplier + 1);
  }

  /** Resizes the consumer's prefetch to the slots, as Celery's `_update_prefetch_count`. */
  private followSlots(): void {
    const prefetch = this.prefetchFor(this.slots);
    if (prefetch === this.prefetch) return;
    this.prefetch = prefetch;
    if (this.state !== 'running') return;
    this.logger.debug(`Prefetch now ${prefetch} for ${this.slots} slots`);
    if (this.consumer?.setPrefetch) this.consumer.setPrefetch(prefetch);
    // A broker whose consumer cannot resize (or a swap under way): a new consumer of the
    // new size takes over.
    else
      void this.reconsume().catch((error: Error) =>
        this.logger.warn(`Could not resize the prefetch to ${prefetch}: ${error.message}`),
      );
  }

  /**
   * Sets a task's time limits in seconds from now on (remote control's `time_limit`); `null`
   * removes one. False when no task has that name.
   */
  setTimeLimit(
    taskName: string,
    limits: { soft?: number | null | undefined; hard?: number | null | undefined },
  ): boolean {
    const task = this.app.getTask(taskName);
    if (!task) return false;
    const options = task.options;
    if (limits.soft === null) delete options.softTimeLimit;
    else if (limits.soft !== undefined) options.softTimeLimit = limits.soft;
    if (limits.hard === null) delete options.timeLimit;
    else if (limits.hard !== undefined) options.timeLimit = limits.hard;
    return true;
  }

  /** The pid running a task: its child on the processes pool, else this process. */
  workerPidOf(task: RunningTask): number {
    return this.pool.pidOf(task) ?? process.pid;
  }

  /** The pool's kind, slots and members (`pid 123`, `thread 4`), for stats. */
  poolInfo(): { kind: PoolKind; size: number; members: string[]; maxTasksPerChild: number | null } {
    return {
      kind: this.poolKind,
      size: this.slots,
      members: this.pool.labels(),
      maxTasksPerChild: this.options.maxTasksPerChild ?? null,
    };
  }

  /**
   * Changes the autoscale bounds (remote control's `autoscale`, as Celery's
   * `Autoscaler.update`): a lower `max` shrinks the pool to it now, a higher `min` grows it
   * now, and the prefetch follows `max`. Returns the bounds, or null without `--autoscale`.
   */
  setAutoscale(
    max: number | undefined,
    min: number | undefined,
  ): { max: number; min: number } | null {
    const scale = this.autoscale;
    if (!scale) return null;
    if (max !== undefined) {
      scale.max = Math.max(1, max);
      if (this.slots > scale.max) this.poolShrink(this.slots - scale.max);
    }
    if (min !== undefined) {
      scale.min = Math.max(1, Math.min(scale.max, min));
      if (this.slots < scale.min) this.poolGrow(scale.min - this.slots);
    }
    scale.min = Math.min(scale.min, scale.max);
    this.followSlots();
    this.logger.info(`Autoscale now max=${scale.max} min=${scale.min}`);
    return { max: scale.max, min: scale.min };
  }

  /** Grows at once while tasks wait; shrinks after `keepalive` without waiting tasks. */
  private startAutoscale(): void {
    const scale = this.autoscale;
    if (!scale) return;
    this.lastBusyAt = Date.now();
    this.autoscaleTimer = setInterval(() => {
      if (this.state !== 'running') return;
      const wanted = Math.min(scale.max, Math.max(scale.min, this.active + this.waiting.length));
      if (wanted >= this.slots) this.lastBusyAt = Date.now();
      if (wanted > this.slots) {
        this.logger.info(`Autoscale: growing the pool from ${this.slots} to ${wanted}`);
        this.poolGrow(wanted - this.slots);
      } else if (wanted < this.slots && Date.now() - this.lastBusyAt >= scale.keepaliveMs) {
        this.logger.info(`Autoscale: shrinking the pool from ${this.slots} to ${wanted}`);
        this.poolShrink(this.slots - wanted);
        this.lastBusyAt = Date.now();
      }
    }, 1000);
    this.autoscaleTimer.unref();
  }
}

/**
 * One delivery's hold on a slot, from the pump to its settle: an object rather than
 * closures, as a worker makes tens of thousands a second.
 */
class Slot {
  ended = false;
  settling = false;

  constructor(
    private readonly worker: Worker,
    readonly delivery: Delivery,
  ) {}

  /** The task's code has ended (called once; the executor's hook, else at the settle). */
  runEnded(): void {
    if (this.ended) return;
    this.ended = true;
    this.settling = this.worker.slotEnded(this.delivery);
  }
}

/** When a held delivery is due: its `eta` header (the reason it is held). */
function dueAtOf(delivery: Delivery): number {
  const eta = delivery.message.headers.eta;
  const at = typeof eta === 'string' ? Date.parse(eta) : NaN;
  return Number.isNaN(at) ? Date.now() : at;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Where the caller of a received message waits for its states (rpc://), from its properties. */
function receivedRoute(
  delivery: Delivery,
  id: string,
): { replyTo?: string; correlationId?: string } {
  const { reply_to: replyTo, correlation_id: correlationId } = delivery.message.properties;
  if (typeof replyTo !== 'string' || replyTo === '') return {};
  return { replyTo, correlationId: typeof correlationId === 'string' ? correlationId : id };
}
