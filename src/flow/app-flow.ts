/**
 * Flow control on the app's side (`app.flow`): idempotent enqueue (one claim per key in
 * the result backend's flow store, taken before the message is published; debounce and
 * fairness send through flow-send.ts) and each limit's live state, read from the same
 * store the workers count in.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { FlowEntry, FlowStore } from '../backends/flow-store.js';
import type { Broker } from '../brokers/broker.js';
import { CeleriacError, FlowStoreUnavailableError } from '../errors.js';
import { ControlClient } from '../app/control-client.js';
import type { WorkerFlowState } from './flow-control.js';

/** A task's flow-control state now, as the store holds it. */
export interface FlowState {
  task: string;
  /**
   * Rate and throttle buckets in use (a full bucket is not listed): tokens left, below 0
   * when booked ahead; `booked`: runs waiting for a token already given them.
   */
  rate: Array<{ key: string | null; tokens: number; booked: number }>;
  /** Throttle buckets in use, as `rate`. */
  throttle: Array<{ key: string | null; tokens: number; booked: number }>;
  /** Concurrency slots held now, by key (null: the task's global limit). */
  running: Array<{ key: string | null; held: number }>;
  /** Idempotency keys claimed now and the task id each replays. */
  idempotency: Array<{ key: string; taskId: string }>;
  /** Open debounce windows: the task id every call gets, and when it runs unless called again. */
  debounce: Array<{ key: string | null; taskId: string; dueAt: number }>;
  /** Fairness backlogs: tasks of each key waiting for their turn. */
  waiting: Array<{ key: string; waiting: number }>;
}

/** One worker's flow control as it answered `flow_state`. */
export interface WorkerFlow {
  worker: string;
  tasks: WorkerFlowState[];
}

export class AppFlow {
  private storePromise: Promise<FlowStore> | undefined;

  constructor(
    private readonly backend: () => Promise<ResultBackend>,
    private readonly broker?: () => Promise<Broker>,
  ) {}

  /**
   * Each worker's own flow control, asked by remote control (`flow_state`): per limited
   * task, the current rate there, the slots its runs hold and the deliveries it holds
   * waiting, by key. Needs a broker with broadcasting (Redis, RabbitMQ).
   * @example await app.flow.workers() // [{ worker: 'w1@host', tasks: [{ task, startedPerSecond, running, waiting }] }]
   */
  async workers(options: { timeout?: number; destination?: string[] } = {}): Promise<WorkerFlow[]> {
    if (!this.broker) throw new CeleriacError('This app has no broker to ask its workers through.');
    const client = new ControlClient(await this.broker());
    const replies = await client.broadcast('flow_state', {
      timeout: options.timeout ?? 1,
      destination: options.destination,
    });
    const found: WorkerFlow[] = [];
    for (const reply of replies)
      for (const [worker, tasks] of Object.entries(reply))
        if (Array.isArray(tasks))
          found.push({ worker, tasks: tasks as unknown as WorkerFlowState[] });
    return found.sort((a, b) => (a.worker < b.worker ? -1 : 1));
  }

  /** The result backend's flow store, opened on first use; FlowStoreUnavailableError without one. */
  store(what = 'Flow control'): Promise<FlowStore> {
    this.storePromise ??= (async () => {
      const backend = await this.backend();
      const store = backend.flowStore?.();
      if (!store) throw new FlowStoreUnavailableError(what, backend.kind);
      await store.open();
      return store;
    })().catch((error: unknown) => {
      this.storePromise = undefined;
      throw error;
    });
    return this.storePromise;
  }

  /**
   * Claims `key` of task `name` for `taskId` for `windowMs`: returns `taskId` when the
   * caller should send it, else the id of the task already sent under that key.
   */
  async claim(name: string, key: string, taskId: string, windowMs: number): Promise<string> {
    const store = await this.store(`The idempotency key of a ${name} call`);
    return store.claim(idempotencyKey(name, key), taskId, windowMs, Date.now());
  }

  /** Frees a claim whose message could not be sent, so the next call sends again. */
  async unclaim(name: string, key: string, taskId: string): Promise<void> {
    const store = await this.store();
    await store.unclaim(idempotencyKey(name, key), taskId);
  }

  /** What the store holds for `taskName` now: buckets, running slots, claims, windows, backlogs. */
  async state(taskName: string): Promise<FlowState> {
    const store = await this.store();
    const prefix = `${taskName}:`;
    const state: FlowState = {
      task: taskName,
      rate: [],
      throttle: [],
      running: [],
      idempotency: [],
      debounce: [],
      waiting: [],
    };
    for (const entry of await store.inspect(prefix, Date.now())) addEntry(state, prefix, entry);
    return state;
  }

  async close(): Promise<void> {
    const opened = this.storePromise;
    this.storePromise = undefined;
    const store = await opened?.catch(() => undefined);
    await store?.close();
  }
}

function idempotencyKey(name: string, key: string): string {
  return `${name}:idem:${key}`;
}

/** Entries are stored as `<task>:<kind>` or `<task>:<kind>:<key>` (flow-control.ts names them). */
function addEntry(state: FlowState, prefix: string, entry: FlowEntry): void {
  const rest = entry.key.slice(prefix.length);
  const colon = rest.indexOf(':');
  const kind = colon === -1 ? rest : rest.slice(0, colon);
  const key = colon === -1 ? null : rest.slice(colon + 1);
  const tokens = entry.tokens ?? 0;
  const booked = Math.max(0, Math.ceil(-tokens - 1e-9));
  if (kind === 'rate' && entry.kind === 'bucket') state.rate.push({ key, tokens, booked });
  else if (kind === 'throt' && entry.kind === 'bucket')
    state.throttle.push({ key, tokens, booked });
  else if (kind === 'deb' && entry.kind === 'debounce')
    state.debounce.push({ key, taskId: entry.taskId ?? '', dueAt: entry.dueAt ?? 0 });
  else if (kind === 'fair' && entry.kind === 'fair' && key !== null)
    state.waiting.push({ key, waiting: entry.waiting ?? 0 });
  else if ((kind === 'conc' || kind === 'single') && entry.kind === 'slots')
    state.running.push({ key, held: entry.held ?? 0 });
  else if (kind === 'idem' && entry.kind === 'claim' && key !== null)
    state.idempotency.push({ key, taskId: entry.taskId ?? '' });
}
