/**
 * Task listing on the Redis result backend. Celery's layout has no index of its result
 * keys, so with the app's `resultExtended` on, each store also scores the task id in one
 * sorted set of ours (`<prefix>celeriac.task-index`, score = unix ms of its latest store).
 * A page walks that set newest first, reads the metas with MGET in batches and filters
 * them with the contract's one matcher, until the page is full: a filter that matches
 * often costs one round trip or two, a rare one reads further. Ids whose meta expired are
 * dropped from the set as they are met, and every id older than the result expiry at
 * each listing. Must never write a meta.
 */
import type { Redis } from 'ioredis';
import { decodeResultMeta } from '../../protocol/result-meta.js';
import type { ResultMeta } from '../../protocol/types.js';
import {
  checkQuery,
  decodeCursor,
  encodeCursor,
  matchesTaskQuery,
  pageSize,
  type TaskListing,
  type TaskListOptions,
  type TaskPage,
  type TaskQuery,
} from '../task-listing.js';
import type { ResultKeyspace } from './keys.js';

/** Ids read per round trip while counting or filtering. */
const SCAN_BATCH = 1000;

export class RedisTaskListing implements TaskListing {
  constructor(
    private readonly client: () => Promise<Redis>,
    private readonly keys: ResultKeyspace,
    private readonly expiresMs: number,
  ) {}

  async list(options: TaskListOptions): Promise<TaskPage> {
    checkQuery(options);
    const redis = await this.ready();
    const limit = pageSize(options.limit);
    const desc = options.order !== 'asc';
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, isCursor);
    const filtered = hasFilter(options);
    const batch = filtered ? SCAN_BATCH : limit + 1;
    // Scores at or past the cursor's, and never below `doneAfter`: a task's last store
    // comes after its date_done.
    const near = after ? String(after[0]) : desc ? '+inf' : '-inf';
    const far = desc
      ? options.doneAfter !== undefined
        ? String(options.doneAfter)
        : '-inf'
      : '+inf';
    const low = desc
      ? far
      : options.doneAfter !== undefined && !after
        ? String(options.doneAfter)
        : near;
    const high = desc ? near : far;
    const tasks: ResultMeta[] = [];
    let last: [number, string] | undefined;
    let more = false;
    for (let offset = 0; ; offset += batch) {
      const entries = desc
        ? await redis.zrevrangebyscore(
            this.keys.taskIndex,
            high,
            low,
            'WITHSCORES',
            'LIMIT',
            offset,
            batch,
          )
        : await redis.zrangebyscore(
            this.keys.taskIndex,
            low,
            high,
            'WITHSCORES',
            'LIMIT',
            offset,
            batch,
          );
      const scored: Array<[number, string]> = [];
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const id = entries[i]!;
        const score = Number(entries[i + 1]);
        // Past the cursor: within its score, ids go in the set's order (reversed when desc).
        if (after && score === after[0] && (desc ? id >= after[1] : id <= after[1])) continue;
        scored.push([score, id]);
      }
      const metas = await this.read(
        redis,
        scored.map(([, id]) => id),
      );
      for (let i = 0; i < scored.length; i++) {
        const meta = metas[i];
        if (!meta || !matchesTaskQuery(meta, options)) continue;
        if (tasks.length === limit) {
          more = true;
          break;
        }
        tasks.push(meta);
        last = scored[i];
      }
      if (more || entries.length < batch * 2) break;
    }
    return { tasks, ...(more && last ? { next: encodeCursor(last) } : {}) };
  }

  async count(query: TaskQuery): Promise<number> {
    checkQuery(query);
    const redis = await this.ready();
    if (!hasFilter(query)) return redis.zcard(this.keys.taskIndex);
    let count = 0;
    const low = query.doneAfter !== undefined ? String(query.doneAfter) : '-inf';
    for (let offset = 0; ; offset += SCAN_BATCH) {
      const ids = await redis.zrangebyscore(
        this.keys.taskIndex,
        low,
        '+inf',
        'LIMIT',
        offset,
        SCAN_BATCH,
      );
      for (const meta of await this.read(redis, ids))
        if (meta && matchesTaskQuery(meta, query)) count++;
      if (ids.length < SCAN_BATCH) return count;
    }
  }

  /** Drops ids older than the result expiry, then answers the connection. */
  private async ready(): Promise<Redis> {
    const redis = await this.client();
    await redis.zremrangebyscore(this.keys.taskIndex, '-inf', `(${Date.now() - this.expiresMs}`);
    return redis;
  }

  /** The metas of the ids, undefined where none is stored (those leave the index). */
  private async read(redis: Redis, ids: string[]): Promise<Array<ResultMeta | undefined>> {
    if (ids.length === 0) return [];
    const texts = await redis.mget(...ids.map((id) => this.keys.meta(id)));
    const gone: string[] = [];
    const metas = texts.map((text, i) => {
      if (text === null) {
        gone.push(ids[i]!);
        return undefined;
      }
      try {
        return decodeResultMeta(text);
      } catch {
        return undefined;
      }
    });
    if (gone.length > 0) await redis.zrem(this.keys.taskIndex, ...gone);
    return metas;
  }
}

function hasFilter(query: TaskQuery): boolean {
  return (
    (query.states?.length ?? 0) > 0 ||
    (query.names?.length ?? 0) > 0 ||
    query.queue !== undefined ||
    query.worker !== undefined ||
    query.doneAfter !== undefined ||
    query.doneBefore !== undefined ||
    (query.fields?.length ?? 0) > 0
  );
}

function isCursor(value: unknown): value is [number, string] {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    Number.isFinite(value[0]) &&
    typeof value[1] === 'string'
  );
}
