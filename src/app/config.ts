/**
 * The app's configuration: what a user passes to `new Celeriac()`, its documented
 * defaults, and the environment variables that override it. Must stay free of I/O.
 */
import type { Broker } from '../brokers/broker.js';
import type { ResultBackend } from '../backends/backend.js';

export const DEFAULT_URL = 'sqlite://./celeriac.db';
export const DEFAULT_QUEUE = 'celery';

export interface CeleriacOptions {
  /**
   * Where tasks are sent: a URL (`sqlite://./celeriac.db`, `redis://…`, `amqp://…`) or a
   * broker instance. `CELERIAC_BROKER_URL` overrides it.
   * @default 'sqlite://./celeriac.db'
   */
  broker?: string | Broker | undefined;
  /**
   * Where states and results are stored. `CELERIAC_RESULT_BACKEND` overrides it.
   * @default the broker URL when it is `sqlite://`, `redis://`, `postgres://` or `memory://`, else none
   */
  backend?: string | ResultBackend | undefined;
  /** Queue used when a task or call names none. @default 'celery' (Celery's) */
  defaultQueue?: string | undefined;
  /** How long results are kept, in seconds. @default 86400 (one day, as Celery) */
  resultExpires?: number | undefined;
  /** Record STARTED when a worker begins a task (one extra write per task). @default false */
  trackStarted?: boolean | undefined;
  /**
   * Record RECEIVED when a worker takes a message, before it has a slot for it, so callers
   * see that a worker holds the task. Off by default, as in Celery (whose backends never
   * store RECEIVED); every backend that stores states (SQLite, Redis, rpc) stores it. A
   * message given back at shutdown keeps RECEIVED until a worker takes it again.
   * @default false
   */
  trackReceived?: boolean | undefined;
  /**
   * Store the task's name, args, kwargs, worker, retries and queue with each state, as
   * Celery's `result_extended = True` does (same fields, so Python reads them). The
   * dashboard's task list needs it for its name, queue, worker and argument filters, and
   * the Redis backend indexes tasks for listing only when it is on.
   * @default false
   */
  resultExtended?: boolean | undefined;
  /**
   * Keep each task's events (sent, received, started, retried, succeeded, failed, revoked,
   * rejected) in the result backend beside its result, for as long as its result, so the
   * dashboard's timeline of a task survives restarts of the app and of every worker.
   * Senders and workers of the app write them, batched per event-loop turn (one extra
   * write per batch). Kept by the SQLite, Redis, PostgreSQL and memory backends; rpc://
   * keeps none (the worker says so once at start). Independent of `workerSendTaskEvents`.
   * @default false
   */
  taskHistory?: boolean | undefined;
  /** Prefix for the broker's and backend's keys or tables, for isolation. */
  keyPrefix?: string | undefined;
  /**
   * Milliseconds a delivery stays owned by a worker that stopped heart-beating before
   * another worker gets it. @default 30000
   */
  leaseMs?: number | undefined;
  /** Name sent as the `origin` header. @default `<pid>@<hostname>` */
  origin?: string | undefined;
  /**
   * Workers send Celery's task events (`celery worker -E`, Celery's
   * `worker_send_task_events`), for `celery events`, Flower and `celeriac events`.
   * @default false
   */
  workerSendTaskEvents?: boolean | undefined;
  /** Send a `task-sent` event for each task this app sends (Celery's `task_send_sent_event`). @default false */
  taskSendSentEvent?: boolean | undefined;
}

export interface ResolvedConfig {
  brokerUrl: string | undefined;
  broker: Broker | undefined;
  backendUrl: string | undefined;
  backend: ResultBackend | undefined;
  defaultQueue: string;
  resultExpiresMs: number;
  trackStarted: boolean;
  trackReceived: boolean;
  resultExtended: boolean;
  taskHistory: boolean;
  keyPrefix: string | undefined;
  leaseMs: number;
  workerSendTaskEvents: boolean;
  taskSendSentEvent: boolean;
}

export function resolveConfig(
  options: CeleriacOptions,
  env: Record<string, string | undefined> = process.env,
): ResolvedConfig {
  const brokerOption = env.CELERIAC_BROKER_URL || options.broker || DEFAULT_URL;
  const brokerUrl = typeof brokerOption === 'string' ? brokerOption : undefined;
  let backendOption: string | ResultBackend | undefined =
    env.CELERIAC_RESULT_BACKEND || options.backend;
  if (
    backendOption === undefined &&
    brokerUrl &&
    /^(sqlite|redis|rediss|unix|memory|postgres|postgresql):/i.test(brokerUrl)
  ) {
    backendOption = brokerUrl;
  }
  return {
    brokerUrl,
    broker: typeof brokerOption === 'string' ? undefined : brokerOption,
    backendUrl: typeof backendOption === 'string' ? backendOption : undefined,
    backend: typeof backendOption === 'object' ? backendOption : undefined,
    defaultQueue: options.defaultQueue ?? DEFAULT_QUEUE,
    resultExpiresMs: (options.resultExpires ?? 86_400) * 1000,
    trackStarted: options.trackStarted ?? false,
    trackReceived: options.trackReceived ?? false,
    resultExtended: options.resultExtended ?? false,
    taskHistory: options.taskHistory ?? false,
    keyPrefix: options.keyPrefix,
    leaseMs: options.leaseMs ?? 30_000,
    workerSendTaskEvents: options.workerSendTaskEvents ?? false,
    taskSendSentEvent: options.taskSendSentEvent ?? false,
  };
}
