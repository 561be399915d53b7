/**
 * A handle on a group's results (Celery's `GroupResult`): its id, one AsyncResult per
 * member in order, and `save()` / `GroupResult.restore()` through the backend's
 * `celery-taskset-meta-<id>`, in Celery's tuple form so Python's `GroupResult.restore`
 * reads it too.
 */
import {
  AsyncResult,
  type GetOptions,
  type ResultHandle,
  type ResultHost,
} from '../app/async-result.js';
import type { JsonValue } from '../protocol/types.js';
import { CeleriacError } from '../errors.js';

export class GroupResult<TResults extends unknown[] = unknown[]> implements ResultHandle {
  parent: ResultHandle | undefined;

  constructor(
    readonly id: string,
    readonly results: readonly AsyncResult<unknown>[],
    private readonly host: ResultHost,
  ) {}

  /** Every member's result, in the group's order; rejects with the first failure. */
  async get(options: GetOptions & { propagate?: true | undefined } = {}): Promise<TResults> {
    return (await Promise.all(this.results.map((result) => result.get(options)))) as TResults;
  }

  /** Whether every member is ready. */
  async ready(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.ready()))).every(Boolean);
  }

  /** How many members succeeded so far. */
  async completedCount(): Promise<number> {
    return (await Promise.all(this.results.map((r) => r.successful()))).filter(Boolean).length;
  }

  /** Revokes every member. */
  async revoke(options: { terminate?: boolean } = {}): Promise<void> {
    const backend = await this.host.resultBackend();
    await backend.revoke(
      this.results.map((r) => r.id),
      options,
    );
  }

  /** Stores the group so `GroupResult.restore(app, id)` (or Python's) finds it. */
  async save(): Promise<void> {
    const backend = await this.host.resultBackend();
    if (!backend.saveGroup)
      throw new CeleriacError(`The ${backend.kind} result backend cannot save groups.`);
    await backend.saveGroup(this.id, { result: this.asTuple() });
  }

  /** The group saved under `groupId`, or undefined. */
  static async restore(host: ResultHost, groupId: string): Promise<GroupResult | undefined> {
    const backend = await host.resultBackend();
    const value = await backend.getGroup?.(groupId);
    if (value === undefined || typeof value !== 'object' || value === null || Array.isArray(value))
      return undefined;
    const tuple = value.result;
    if (!Array.isArray(tuple) || !Array.isArray(tuple[1])) return undefined;
    const ids = tuple[1].map(memberId).filter((id): id is string => id !== undefined);
    return new GroupResult(
      groupId,
      ids.map((id) => new AsyncResult(id, host)),
      host,
    );
  }

  /** Celery's `as_tuple()`: `[[id, parent], [[[member, null], null], ...]]`. */
  asTuple(): JsonValue {
    return [[this.id, null], this.results.map((r) => [[r.id, null], null])];
  }

  toJSON(): { id: string; results: { id: string }[] } {
    return { id: this.id, results: this.results.map((r) => ({ id: r.id })) };
  }
}

/** A member's id in Celery's tuple form: `[[id, parent], null]`. */
function memberId(member: JsonValue): string | undefined {
  if (!Array.isArray(member)) return undefined;
  const head = member[0];
  if (Array.isArray(head) && typeof head[0] === 'string') return head[0];
  return undefined;
}
