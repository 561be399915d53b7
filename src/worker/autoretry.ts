/**
 * Whether a task's `autoretryFor` matches an error: decided where the task's error classes
 * live (the worker for the async pool, the thread or child for the others).
 */
import type { Task } from '../app/task.js';

export function matchesAutoretry(error: unknown, task: Task<unknown[], unknown>): boolean {
  const matchers = task.options.autoretryFor;
  if (!matchers?.length) return false;
  return matchers.some((matcher) =>
    matcher.prototype instanceof Error || matcher === Error
      ? error instanceof (matcher as new () => Error)
      : (matcher as (error: unknown) => boolean)(error),
  );
}
