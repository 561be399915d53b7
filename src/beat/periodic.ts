/**
 * Periodic entries declared in code with `app.periodic(...)`: typed against the task they
 * send, turned into the store's plain definition. Pure.
 */
import type { TaskRef } from '../app/task.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';
import type { EntryDefinition, EntryOptions } from '../backends/beat-store.js';
import type { MissedRunPolicy, Schedule } from './schedules/index.js';

/**
 * A periodic entry in code. `args` are the task's arguments, checked against its
 * parameters when `task` is a task or signature (never inferred from `args` itself, so
 * wrong ones do not compile), and required when the task takes any.
 */
export type PeriodicOptions<TArgs extends unknown[]> = PeriodicBase<TArgs> &
  ([] extends TArgs ? { args?: NoInfer<TArgs> } : { args: NoInfer<TArgs> });

export interface PeriodicBase<TArgs extends unknown[]> {
  /** The task to send: a task or signature (arguments are then type-checked), or a name. */
  task: TaskRef<TArgs, unknown> | string;
  /** When: `crontab('0 8 * * *', { tz: 'Europe/London' })`, `every('5m')`, `clocked(date)`, `solar(...)`. */
  schedule: Schedule;
  kwargs?: Record<string, unknown>;
  /** Queue, priority, expires (seconds: a run not started by then is dropped), headers. */
  options?: EntryOptions;
  /**
   * After downtime: `catch-up-once` sends one run for the missed slots, `skip` sends none.
   * Slots missed by less than a minute (a leader change, a restart) are sent either way.
   * @default 'catch-up-once'
   */
  missedRunPolicy?: MissedRunPolicy;
  /** @default true */
  enabled?: boolean;
}

export function toDefinition<TArgs extends unknown[]>(
  name: string,
  options: PeriodicOptions<TArgs>,
  source: EntryDefinition['source'] = 'code',
): EntryDefinition {
  return {
    name,
    task: typeof options.task === 'string' ? options.task : options.task.name,
    schedule: options.schedule.toJSON(),
    args: (options.args ?? []) as JsonValue[],
    kwargs: (options.kwargs ?? {}) as JsonObject,
    options: options.options ?? {},
    missedRunPolicy: options.missedRunPolicy ?? 'catch-up-once',
    enabled: options.enabled ?? true,
    source,
  };
}
