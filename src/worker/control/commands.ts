/**
 * The remote-control commands a Celeriac worker answers, with Celery 5.2's names, argument
 * names and reply shapes (celery/worker/control.py), so `celery inspect` / `celery control`
 * and Flower read them as they read a Python worker's: ping, stats, active, reserved,
 * scheduled, registered, revoked, query_task, active_queues, clock, hello; revoke,
 * terminate, rate_limit, time_limit, shutdown, pool_grow, pool_shrink, autoscale,
 * add_consumer, cancel_consumer, heartbeat, enable_events, disable_events.
 * An unknown command gets kombu's `{"error": "KeyError('<name>')"}`.
 */
import os from 'node:os';
import type { Delivery } from '../../brokers/broker.js';
import type { LamportClock } from '../../protocol/control.js';
import { errorReply, okReply } from '../../protocol/control.js';
import { pythonStringRepr } from '../../protocol/repr.js';
import { decodeTaskMessage } from '../../protocol/task-message.js';
import type { JsonObject, JsonValue } from '../../protocol/types.js';
import type { Rate } from '../../app/task-options.js';
import { InvalidRateError, parseRate } from '../../flow/rate.js';
import type { RunningTask } from '../execute.js';
import type { ControlTarget } from './target.js';

export interface CommandContext {
  target: ControlTarget;
  clock: LamportClock;
  /** The broker's kind (`redis`, `amqp`), for `stats`. */
  transport: string;
}

type Handler = (ctx: CommandContext, args: JsonObject) => JsonValue | Promise<JsonValue>;

/** Celery's `request.info()` of a task run or a reserved message. */
export type TaskInfo = JsonObject;

const HANDLERS: Record<string, Handler> = {
  ping: () => okReply('pong'),
  stats: (ctx) => stats(ctx),
  active: (ctx) => ctx.target.snapshot().running.map((task) => runningInfo(ctx, task)),
  reserved: (ctx) => ctx.target.snapshot().reserved.map((delivery) => deliveryInfo(ctx, delivery)),
  scheduled: (ctx) =>
    ctx.target.snapshot().scheduled.map(({ delivery, dueAt }) => ({
      eta: new Date(dueAt).toISOString().replace('Z', '+00:00'),
      priority: delivery.message.properties.priority ?? 0,
      request: deliveryInfo(ctx, delivery),
    })),
  registered: (ctx) =>
    ctx.target.app
      .taskNames()
      .filter((name) => !name.startsWith('celery.'))
      .sort(),
  revoked: (ctx) => ctx.target.revokedIds(),
  query_task: (ctx, args) => queryTask(ctx, idList(args.ids)),
  active_queues: (ctx) => ctx.target.queues.map((queue) => queueInfo(queue)),
  clock: (ctx) => ({ clock: ctx.clock.value }),
  hello: (ctx, args) => {
    if (args.from_node === ctx.target.hostname) return null;
    if (args.revoked && typeof args.revoked === 'object' && !Array.isArray(args.revoked))
      ctx.target.revoke(Object.keys(args.revoked), { terminate: false });
    const revoked: JsonObject = {};
    const now = Date.now() / 1000;
    for (const id of ctx.target.revokedIds()) revoked[id] = now;
    return { revoked, clock: ctx.clock.forward() };
  },
  revoke: (ctx, args) =>
    revoke(ctx, idList(args.task_id), args.terminate === true, stringArg(args.signal)),
  terminate: (ctx, args) => revoke(ctx, idList(args.task_id), true, stringArg(args.signal)),
  // Celeriac's own: each limited task's rate, running and waiting here (app.flow.workers()).
  flow_state: (ctx) => ctx.target.flowState() as unknown as JsonValue,
  rate_limit: (ctx, args) => rateLimit(ctx, stringArg(args.task_name), args.rate_limit),
  time_limit: (ctx, args) => timeLimit(ctx, stringArg(args.task_name), args.soft, args.hard),
  shutdown: (ctx, args) => {
    ctx.target.requestShutdown(stringArg(args.msg) ?? 'Got shutdown from remote');
    return okReply('shutting down');
  },
  pool_grow: (ctx, args) => {
    ctx.target.resizePool(countArg(args.n));
    return okReply('pool will grow');
  },
  pool_shrink: (ctx, args) => {
    const n = countArg(args.n);
    if (ctx.target.concurrency - n < 1) return errorReply('pool cannot shrink below 1 slot');
    ctx.target.resizePool(-n);
    return okReply('pool will shrink');
  },
  autoscale: (ctx, args) => {
    const bounds = ctx.target.setAutoscale(positiveArg(args.max), positiveArg(args.min));
    if (!bounds) return errorReply("ValueError('Autoscale not enabled')");
    return okReply(`autoscale now max=${bounds.max} min=${bounds.min}`);
  },
  add_consumer: async (ctx, args) => {
    const queue = stringArg(args.queue);
    if (!queue) return errorReply('add_consumer needs a queue');
    await ctx.target.addQueue(queue);
    return okReply(`add consumer ${queue}`);
  },
  cancel_consumer: async (ctx, args) => {
    const queue = stringArg(args.queue);
    if (!queue) return errorReply('cancel_consumer needs a queue');
    await ctx.target.cancelQueue(queue);
    return okReply(`no longer consuming from ${queue}`);
  },
  heartbeat: (ctx) => {
    ctx.target.sendHeartbeat();
    return null;
  },
  enable_events: (ctx) =>
    okReply(ctx.target.setTaskEvents(true) ? 'task events enabled' : 'task events already enabled'),
  disable_events: (ctx) =>
    okReply(
      ctx.target.setTaskEvents(false) ? 'task events disabled' : 'task events already disabled',
    ),
};

/** Every command this worker answers. */
export const COMMANDS: readonly string[] = Object.keys(HANDLERS);

/** Runs one command. An unknown one, or one that throws, gets kombu's error reply. */
export async function runCommand(
  ctx: CommandContext,
  method: string,
  args: JsonObject,
): Promise<JsonValue> {
  const handler = Object.hasOwn(HANDLERS, method) ? HANDLERS[method] : undefined;
  if (!handler) return errorReply(`KeyError(${pythonStringRepr(method)})`);
  return handler(ctx, args);
}

function stats(ctx: CommandContext): JsonObject {
  const { target } = ctx;
  const total: JsonObject = {};
  for (const [name, count] of target.taskTotals()) total[name] = count;
  const usage = process.resourceUsage();
  const pool = target.poolInfo();
  // Celery lists the pool's processes: the children on `processes`, else this process.
  const children = pool.members
    .map((label) => /^pid (\d+)$/.exec(label)?.[1])
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);
  return {
    total,
    pid: process.pid,
    clock: String(ctx.clock.value),
    uptime: Math.floor((Date.now() - target.startedAt) / 1000),
    pool: {
      'max-concurrency': target.concurrency,
      processes: children.length > 0 ? children : [process.pid],
      'max-tasks-per-child': pool.maxTasksPerChild,
      'put-guarded-by-semaphore': false,
      timeouts: [],
      implementation: `celeriac:${pool.kind}`,
    },
    broker: { transport: ctx.transport },
    prefetch_count: target.prefetchCount,
    rusage: {
      utime: usage.userCPUTime / 1e6,
      stime: usage.systemCPUTime / 1e6,
      maxrss: usage.maxRSS,
      minflt: usage.minorPageFault,
      majflt: usage.majorPageFault,
      nvcsw: usage.voluntaryContextSwitches,
      nivcsw: usage.involuntaryContextSwitches,
    },
    sw_ident: 'celeriac',
    loadavg: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

function runningInfo(ctx: CommandContext, task: RunningTask): TaskInfo {
  return {
    id: task.id,
    name: task.name,
    args: (task.args ?? []) as JsonValue,
    kwargs: (task.kwargs ?? {}) as JsonValue,
    type: task.name,
    hostname: ctx.target.hostname,
    time_start: task.startedAt / 1000,
    acknowledged: false,
    delivery_info: {
      exchange: '',
      routing_key: task.queue ?? '',
      priority: 0,
      redelivered: task.redelivered ?? false,
    },
    worker_pid: ctx.target.workerPidOf(task),
  };
}

/** A message not started: read for inspection only (a bad one shows what its headers say). */
function deliveryInfo(ctx: CommandContext, delivery: Delivery): TaskInfo {
  const { headers, properties } = delivery.message;
  let args: JsonValue = [];
  let kwargs: JsonValue = {};
  try {
    const decoded = decodeTaskMessage(delivery.message);
    args = decoded.args;
    kwargs = decoded.kwargs;
  } catch {
    // Shown with what the headers tell; the executor rejects it when its turn comes.
  }
  const name = typeof headers.task === 'string' ? headers.task : '';
  return {
    id: typeof headers.id === 'string' ? headers.id : '',
    name,
    args,
    kwargs,
    type: name,
    hostname: ctx.target.hostname,
    time_start: null,
    acknowledged: false,
    delivery_info: {
      exchange: '',
      routing_key: delivery.queue,
      priority: properties.priority ?? 0,
      redelivered: delivery.redelivered,
    },
    worker_pid: null,
  };
}

function queryTask(ctx: CommandContext, ids: string[]): JsonObject {
  const wanted = new Set(ids);
  const out: JsonObject = {};
  const { running, reserved, scheduled } = ctx.target.snapshot();
  for (const task of running)
    if (wanted.has(task.id)) out[task.id] = ['active', runningInfo(ctx, task)];
  for (const delivery of [...reserved, ...scheduled.map((entry) => entry.delivery)]) {
    const id = delivery.message.headers.id;
    if (typeof id === 'string' && wanted.has(id) && !(id in out))
      out[id] = ['reserved', deliveryInfo(ctx, delivery)];
  }
  return out;
}

function revoke(
  ctx: CommandContext,
  ids: string[],
  terminate: boolean,
  signal: string | undefined,
): JsonObject {
  const terminated = ctx.target.revoke(ids, { terminate, signal: signalNamed(signal) });
  if (terminate) {
    if (terminated.length === 0) return okReply('terminate: tasks unknown');
    return okReply(`terminate: ${terminated.join(', ')}`);
  }
  return okReply(`tasks ${ids.join(', ')} flagged as revoked`);
}

/** Celery sends a signal by name, with or without its SIG prefix (`KILL`, `SIGKILL`). */
function signalNamed(name: string | undefined): NodeJS.Signals | undefined {
  if (name === undefined) return undefined;
  const full = (name.toUpperCase().startsWith('SIG') ? name : `SIG${name}`).toUpperCase();
  return full in os.constants.signals ? (full as NodeJS.Signals) : undefined;
}

/**
 * Celery's `rate_limit`: the rate in Celery's syntax, read by the same parser as a task's
 * `rateLimit` option (src/flow/rate.ts); `0`, an empty string or none lifts the limit.
 */
function rateLimit(ctx: CommandContext, name: string | undefined, rate: JsonValue | undefined) {
  const value: Rate | undefined =
    rate === null || rate === undefined || rate === ''
      ? 0
      : typeof rate === 'string' || typeof rate === 'number'
        ? rate
        : undefined;
  let limited: boolean;
  try {
    if (value === undefined) throw new InvalidRateError(rate);
    limited = parseRate(value) !== null;
  } catch {
    return errorReply(
      `Invalid rate limit string: ValueError(${pythonStringRepr(JSON.stringify(rate ?? null))})`,
    );
  }
  if (!name || !ctx.target.app.getTask(name)) return errorReply('unknown task');
  ctx.target.setRateLimit(name, limited ? value : null);
  return okReply(limited ? 'new rate limit set successfully' : 'rate limit disabled successfully');
}

function timeLimit(
  ctx: CommandContext,
  name: string | undefined,
  soft: JsonValue | undefined,
  hard: JsonValue | undefined,
) {
  const task = name ? ctx.target.app.getTask(name) : undefined;
  if (!task) return errorReply('unknown task');
  // Celery sets both, a missing one to None: the task's own options change for its next runs.
  const options = task.options as { softTimeLimit?: number; timeLimit?: number };
  const seconds = (value: JsonValue | undefined) =>
    typeof value === 'number' && value > 0 ? value : undefined;
  const softS = seconds(soft);
  const hardS = seconds(hard);
  if (softS === undefined) delete options.softTimeLimit;
  else options.softTimeLimit = softS;
  if (hardS === undefined) delete options.timeLimit;
  else options.timeLimit = hardS;
  return okReply('time limits set successfully');
}

function queueInfo(queue: string): JsonObject {
  return {
    name: queue,
    exchange: {
      name: queue,
      type: 'direct',
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: queue,
    queue_arguments: null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: null,
  };
}

function idList(value: JsonValue | undefined): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((id): id is string => typeof id === 'string');
  return [];
}
function stringArg(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
function positiveArg(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
function countArg(value: JsonValue | undefined): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 1;
}
