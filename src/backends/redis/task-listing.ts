/**
 * Task listing on the Redis result backend. Celery's layout has no index of its result
 * keys, so with the app's `resultExtended` on, each store also scores the task id in
 * sorted sets of ours (task-indexer.ts; score = unix ms of its latest store plus a
 * sequence within that millisecond, so the order is store order, as on SQLite): the task
 * index (`<prefix>celeriac.task-index`) and one per state, name, queue, worker and
 * argument or result field (`…:state:FAILURE`, `…:field:args.customerId=42`).
 * A page walks the narrowest of them newest first (or, for several conditions, their
 * intersection, made for the call in a temporary key): when the indexes answer every
 * condition, a window and one MGET; else a script (scripts/scan-tasks.ts) tests windows
 * of metas in Redis with plain-text needles and returns only candidates. The contract's
 * one matcher then filters exactly, until the page is full. Ids whose meta expired are
 * dropped from the set walked as they are met, and every id older than the result
 * expiry at each listing. Must never write a meta.
 */
import { randomUUID } from 'node:crypto';
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
import { filterEntry, indexedFields, OVERFLOW_FIELD } from '../task-index.js';
import type { TaskActivity, TaskTotals } from '../task-listing.js';

/** The index keys a stored meta is in (task-indexer.ts), besides the task index. */
export function indexKeysOf(keys: ResultKeyspace, meta: ResultMeta): string[] {
  const found = [keys.taskIndexOf('state', meta.status)];
  if (meta.name) found.push(keys.taskIndexOf('name', meta.name));
  if (meta.queue) found.push(keys.taskIndexOf('queue', meta.queue));
  if (meta.worker) found.push(keys.taskIndexOf('worker', meta.worker));
  for (const entry of indexedFields(meta)) found.push(keys.taskIndexOf('field', entry));
  return found;
}

/** The sorted set a listing walks: the task index, one kind's index, or a temporary intersection. */
interface Source {
  key: string;
  /** The indexes answer every condition (the exact matcher still runs). */
  exact: boolean;
  /** A key made for this call, to delete after. */
  temporary: boolean;
}

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
    const source = await this.source(redis, options);
    try {
      return await this.listFrom(redis, source, options, limit, desc, after);
    } finally {
      if (source.temporary) await redis.del(source.key);
    }
  }

  private async listFrom(
    redis: Redis,
    source: Source,
    options: TaskListOptions,
    limit: number,
    desc: boolean,
    after: [number, string] | undefined,
  ): Promise<TaskPage> {
    const filtered = hasFilter(options) && !source.exact;
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
        ? await this.scan(redis, source.key, desc, from, to, offset, window, groups)
        : await this.window(redis, source.key, desc, from, to, offset, window);
      for (const [score, id, meta] of found) {
        // Past the cursor. Scores are unique per store; ids indexed before the sequence
        // (scripts/index-tasks.ts) may share one, and then go by id (reversed when desc).
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
    const source = await this.source(redis, query);
    try {
      if (source.exact) return await redis.zcard(source.key);
      const groups = needleGroups(query);
      const floor = query.doneAfter !== undefined ? String(query.doneAfter) : '-inf';
      let count = 0;
      for (let offset = 0; ; offset += SCAN_BATCH) {
        const { examined, found } = await this.scan(
          redis,
          source.key,
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
    } finally {
      if (source.temporary) await redis.del(source.key);
    }
  }

  /**
   * The narrowest sorted set holding every task the query can keep: the task index when
   * no condition has an index; one index; or the intersection of several (each a union
   * when it has alternatives: states, names, a field and the overflow entry).
   */
  private async source(redis: Redis, query: TaskQuery): Promise<Source> {
    const groups: string[][] = [];
    let exact = query.doneAfter === undefined && query.doneBefore === undefined;
    const kinds = (kind: 'state' | 'name', values: readonly string[] | undefined) => {
      if (values && values.length > 0)
        groups.push(values.map((value) => this.keys.taskIndexOf(kind, value)));
    };
    kinds('state', query.states);
    kinds('name', query.names);
    if (query.queue !== undefined) groups.push([this.keys.taskIndexOf('queue', query.queue)]);
    if (query.worker !== undefined) groups.push([this.keys.taskIndexOf('worker', query.worker)]);
    for (const filter of query.fields ?? []) {
      // A field index holds candidates (an overflowing task, a result since replaced).
      exact = false;
      const entry = filterEntry(filter);
      if (entry !== undefined)
        groups.push([
          this.keys.taskIndexOf('field', entry),
          this.keys.taskIndexOf('field', OVERFLOW_FIELD),
        ]);
    }
    if (groups.length === 0) return { key: this.keys.taskIndex, exact: false, temporary: false };
    if (groups.length === 1 && groups[0]!.length === 1) {
      const key = groups[0]![0]!;
      await redis.zremrangebyscore(key, '-inf', `(${Date.now() - this.expiresMs}`);
      return { key, exact, temporary: false };
    }
    const key = `${this.keys.taskIndex}:tmp:${randomUUID()}`;
    const parts: string[] = [];
    const multi = redis.multi();
    groups.forEach((group, i) => {
      if (group.length === 1) parts.push(group[0]!);
      else {
        const part = `${key}:${i}`;
        multi.zunionstore(part, group.length, ...group, 'AGGREGATE', 'MAX');
        parts.push(part);
      }
    });
    if (parts.length === 1) multi.rename(parts[0]!, key);
    else multi.zinterstore(key, parts.length, ...parts, 'AGGREGATE', 'MAX');
    multi.zremrangebyscore(key, '-inf', `(${Date.now() - this.expiresMs}`);
    multi.pexpire(key, 60_000);
    const made = parts.filter((part) => part.startsWith(`${key}:`));
    if (made.length > 0 && parts.length > 1) multi.del(...made);
    await multi.exec();
    return { key, exact, temporary: true };
  }

  async activity(since: number): Promise<TaskActivity[]> {
    const redis = await this.client();
    const first = Math.floor(since / 60_000);
    const last = Math.floor(Date.now() / 60_000);
    const minutes = Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);
    const pipeline = redis.pipeline();
    for (const minute of minutes) pipeline.hgetall(this.keys.taskCounts(minute));
    const replies = (await pipeline.exec()) ?? [];
    const rows: TaskActivity[] = [];
    replies.forEach(([error, hash], i) => {
      if (error || !hash) return;
      for (const [field, n] of Object.entries(hash as Record<string, string>)) {
        const [name = '', queue = '', state = ''] = field.split('\u0000');
        rows.push({ minute: minutes[i]! * 60_000, name, queue, state, count: Number(n) });
      }
    });
    return rows;
  }

  async totals(): Promise<TaskTotals> {
    const redis = await this.client();
    const [counts, runtimes] = await Promise.all([
      redis.hgetall(this.keys.taskTotals),
      redis.hgetall(this.keys.taskRuntimes),
    ]);
    const byName = new Map<string, { name: string; buckets: number[]; sum: number }>();
    for (const [field, value] of Object.entries(runtimes)) {
      const [name = '', bucket = ''] = field.split('\u0000');
      let entry = byName.get(name);
      if (!entry) byName.set(name, (entry = { name, buckets: [], sum: 0 }));
      if (bucket === 'sum') entry.sum = Number(value);
      else entry.buckets[Number(bucket)] = Number(value);
    }
    return {
      counts: Object.entries(counts).map(([field, n]) => {
        const [name = '', queue = '', state = ''] = field.split('\u0000');
        return { name, queue, state, count: Number(n) };
      }),
      runtimes: [...byName.values()],
    };
  }

  /** A window of the index with every meta (no filter): ZRANGE then one MGET. */
  private async window(
    redis: Redis,
    key: string,
    desc: boolean,
    from: string,
    to: string,
    offset: number,
    size: number,
  ): Promise<{ examined: number; found: Array<[number, string, ResultMeta]> }> {
    const entries = desc
      ? await redis.zrevrangebyscore(key, from, to, 'WITHSCORES', 'LIMIT', offset, size)
      : await redis.zrangebyscore(key, from, to, 'WITHSCORES', 'LIMIT', offset, size);
    const ids: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < entries.length; i += 2) {
      ids.push(entries[i]!);
      scores.push(Number(entries[i + 1]));
    }
    const metas = await this.read(redis, key, ids);
    const found: Array<[number, string, ResultMeta]> = [];
    metas.forEach((meta, i) => {
      if (meta) found.push([scores[i]!, ids[i]!, meta]);
    });
    return { examined: ids.length, found };
  }

  /** A window of the index filtered in Redis by needles (scripts/scan-tasks.ts): only candidates travel. */
  private async scan(
    redis: Redis,
    key: string,
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
      [key],
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
  private async read(
    redis: Redis,
    key: string,
    ids: string[],
  ): Promise<Array<ResultMeta | undefined>> {
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
    if (gone.length > 0) {
      await redis.zrem(this.keys.taskIndex, ...gone);
      if (key !== this.keys.taskIndex) await redis.zrem(key, ...gone);
    }
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
