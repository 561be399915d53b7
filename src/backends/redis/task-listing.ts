/**
 * Task listing on the Redis result backend. Celery's layout has no index of its result
 * keys, so with the app's `resultExtended` on, each store also scores the task id in one
 * sorted set of ours (`<prefix>celeriac.task-index`, score = unix ms of its latest store).
 * A page walks that set newest first: unfiltered, a window and one MGET; filtered, a
 * script (scripts/scan-tasks.ts) tests windows of metas in Redis with plain-text needles
 * and returns only candidates, which the contract's one matcher then filters exactly,
 * until the page is full. Ids whose meta expired are
 * dropped from the set as they are met, and every id older than the result expiry at
 * each listing. Must never write a meta.
 */
import type { Redis } from 'ioredis';
import { decodeResultMeta } from '../../protocol/result-meta.js';
import type { ResultMeta } from '../../protocol/types.js';
import { runScript } from '../../connections/redis/script-runner.js';
import { scanTasksScript } from './scripts/scan-tasks.js';
import {
  checkQuery,
  needleGroups,
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
const SCAN_BATCH = 2000;

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
    const groups = needleGroups(options);
    // Scores at or past the cursor's, and never below `doneAfter`: a task's last store
    // comes after its date_done.
    const floor = options.doneAfter !== undefined ? String(options.doneAfter) : '-inf';
    const from = after ? String(after[0]) : desc ? '+inf' : floor;
    const to = desc ? floor : '+inf';
    const tasks: ResultMeta[] = [];
    let last: [number, string] | undefined;
    let more = false;
    const window = filtered ? SCAN_BATCH : limit + 1;
    for (let offset = 0; !more; offset += window) {
      const { examined, found } = filtered
        ? await this.scan(redis, desc, from, to, offset, window, groups)
        : await this.window(redis, desc, from, to, offset, window);
      for (const [score, id, meta] of found) {
        // Past the cursor: within its score, ids go in the set's order (reversed when desc).
        if (after && score === after[0] && (desc ? id >= after[1] : id <= after[1])) continue;
        if (!matchesTaskQuery(meta, options)) continue;
        if (tasks.length === limit) {
          more = true;
          break;
        }
        tasks.push(meta);
        last = [score, id];
      }
      if (examined < window) break;
    }
    return { tasks, ...(more && last ? { next: encodeCursor(last) } : {}) };
  }

  async count(query: TaskQuery): Promise<number> {
    checkQuery(query);
    const redis = await this.ready();
    if (!hasFilter(query)) return redis.zcard(this.keys.taskIndex);
    const groups = needleGroups(query);
    const floor = query.doneAfter !== undefined ? String(query.doneAfter) : '-inf';
    let count = 0;
    for (let offset = 0; ; offset += SCAN_BATCH) {
      const { examined, found } = await this.scan(
        redis,
        false,
        floor,
        '+inf',
        offset,
        SCAN_BATCH,
        groups,
      );
      for (const [, , meta] of found) if (matchesTaskQuery(meta, query)) count++;
      if (examined < SCAN_BATCH) return count;
    }
  }

  /** A window of the index with every meta (no filter): ZRANGE then one MGET. */
  private async window(
    redis: Redis,
    desc: boolean,
    from: string,
    to: string,
    offset: number,
    size: number,
  ): Promise<{ examined: number; found: Array<[number, string, ResultMeta]> }> {
    const entries = desc
      ? await redis.zrevrangebyscore(
          this.keys.taskIndex,
          from,
          to,
          'WITHSCORES',
          'LIMIT',
          offset,
          size,
        )
      : await redis.zrangebyscore(
          this.keys.taskIndex,
          from,
          to,
          'WITHSCORES',
          'LIMIT',
          offset,
          size,
        );
    const ids: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < entries.length; i += 2) {
      ids.push(entries[i]!);
      scores.push(Number(entries[i + 1]));
    }
    const metas = await this.read(redis, ids);
    const found: Array<[number, string, ResultMeta]> = [];
    metas.forEach((meta, i) => {
      if (meta) found.push([scores[i]!, ids[i]!, meta]);
    });
    return { examined: ids.length, found };
  }

  /** A window of the index filtered in Redis by needles (scripts/scan-tasks.ts): only candidates travel. */
  private async scan(
    redis: Redis,
    desc: boolean,
    from: string,
    to: string,
    offset: number,
    size: number,
    groups: string[][],
  ): Promise<{ examined: number; found: Array<[number, string, ResultMeta]> }> {
    const reply = (await runScript(
      redis,
      scanTasksScript,
      [this.keys.taskIndex],
      [
        this.keys.meta(''),
        desc ? 'desc' : 'asc',
        from,
        to,
        offset,
        size,
        groups.length,
        ...groups.flatMap((group) => [group.length, ...group]),
      ],
    )) as Array<string | number>;
    const found: Array<[number, string, ResultMeta]> = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      try {
        found.push([
          Number(reply[i + 1]),
          String(reply[i]),
          decodeResultMeta(String(reply[i + 2])),
        ]);
      } catch {
        // Not a meta we can read: it is not listed.
      }
    }
    return { examined: Number(reply[0]), found };
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
