/**
 * Task listing on the SQLite result backend: one SELECT per page over the results table,
 * newest change first by its change sequence (`seq`, already indexed), with keyset
 * cursors (`seq` of the last row), so page 2,000 costs what page 1 does. Filters become
 * `json_extract` conditions with every value bound; state, name (and the two together)
 * and `date_done` have expression indexes, made the first time a listing runs (so apps
 * that never list pay nothing on writes). A field filter the field index answers
 * (task-index.ts, written at store time with `resultExtended`) narrows the rows to its
 * candidates first; the exact conditions still decide. Field paths are checked
 * (task-listing.ts) before they become JSON paths. Must never write a meta.
 */
import type { Db } from '../../connections/sqlite/database.js';
import { tableName } from '../../connections/sqlite/database.js';
import { filterEntry, OVERFLOW_FIELD } from '../task-index.js';
import type { ResultStore } from './result-store.js';
import type { ResultMeta } from '../../protocol/types.js';
import {
  decodeCursor,
  encodeCursor,
  fieldPath,
  pageSize,
  fieldNeedles,
  type TaskActivity,
  type TaskListing,
  type TaskListOptions,
  type TaskPage,
  type TaskQuery,
  type TaskTotals,
} from '../task-listing.js';

const STATUS = `json_extract(meta, '$.status')`;
const NAME = `json_extract(meta, '$.name')`;
const DONE = `json_extract(meta, '$.date_done')`;

export class SqliteTaskListing implements TaskListing {
  private indexed = false;
  private readonly table: string;
  private readonly fields: string;

  constructor(
    private readonly store: () => Promise<ResultStore>,
    private readonly prefix: string,
  ) {
    this.table = tableName(prefix, 'results');
    this.fields = tableName(prefix, 'result_fields');
  }

  async activity(since: number): Promise<TaskActivity[]> {
    return (await this.store()).activity(since);
  }

  async totals(): Promise<TaskTotals> {
    return (await this.store()).totals();
  }

  async list(options: TaskListOptions): Promise<TaskPage> {
    const db = await this.ready();
    const limit = pageSize(options.limit);
    const desc = options.order !== 'asc';
    const { where, params, narrowed } = conditions(options, this.fields);
    if (options.cursor !== undefined) {
      const [after] = decodeCursor(options.cursor, isSeqCursor);
      where.push(desc ? 'seq < @after' : 'seq > @after');
      params.after = after;
    }
    const rows = db
      .prepare(
        `SELECT meta, seq FROM ${this.table} WHERE ${where.join(' AND ')}
         ORDER BY ${narrowed ? '+seq' : 'seq'} ${desc ? 'DESC' : 'ASC'} LIMIT ${limit + 1}`,
      )
      .all(params) as Array<{ meta: string; seq: number }>;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      tasks: page.map((row) => JSON.parse(row.meta) as ResultMeta),
      ...(rows.length > limit && last ? { next: encodeCursor([last.seq]) } : {}),
    };
  }

  async count(query: TaskQuery): Promise<number> {
    const db = await this.ready();
    const { where, params } = conditions(query, this.fields);
    const row = db
      .prepare(`SELECT count(*) AS n FROM ${this.table} WHERE ${where.join(' AND ')}`)
      .get(params) as { n: number };
    return row.n;
  }

  private async ready(): Promise<Db> {
    const db = (await this.store()).db;
    if (!this.indexed) {
      const index = (name: string, on: string) =>
        `CREATE INDEX IF NOT EXISTS ${tableName(this.prefix, name)} ON ${this.table} (${on})`;
      // expires_at last: a count by state is answered from the index alone.
      db.exec(index('results_status_seq_expires', `${STATUS}, seq, expires_at`));
      db.exec(index('results_name_seq', `${NAME}, seq`));
      db.exec(index('results_name_status_seq', `${NAME}, ${STATUS}, seq`));
      db.exec(index('results_done', DONE));
      this.indexed = true;
    }
    return db;
  }
}

function isSeqCursor(value: unknown): value is [number] {
  return Array.isArray(value) && value.length === 1 && Number.isSafeInteger(value[0]);
}

type Bound = string | number | null;

/**
 * The WHERE conditions of a query, each value a named parameter; `narrowed` when a field
 * index answers one (its candidates are then few enough to sort, rather than walking
 * the `seq` index).
 */
function conditions(
  query: TaskQuery,
  fields: string,
): { where: string[]; params: Record<string, Bound>; narrowed: boolean } {
  const where = ['(expires_at = 0 OR expires_at > @now)'];
  const params: Record<string, Bound> = { now: Date.now() };
  let narrowed = false;
  if (query.states && query.states.length > 0) {
    where.push(`${STATUS} IN (SELECT value FROM json_each(@states))`);
    params.states = JSON.stringify(query.states);
  }
  if (query.names && query.names.length > 0) {
    where.push(`${NAME} IN (SELECT value FROM json_each(@names))`);
    params.names = JSON.stringify(query.names);
  }
  if (query.queue !== undefined) {
    where.push(`json_extract(meta, '$.queue') = @queue`);
    params.queue = query.queue;
  }
  if (query.worker !== undefined) {
    where.push(`json_extract(meta, '$.worker') = @worker`);
    params.worker = query.worker;
  }
  // ISO texts of one zone compare as their times do; see isoBound for the edge of a second.
  if (query.doneAfter !== undefined) {
    where.push(`${DONE} >= @doneAfter`);
    params.doneAfter = isoBound(query.doneAfter);
  }
  if (query.doneBefore !== undefined) {
    where.push(`${DONE} < @doneBefore`);
    params.doneBefore = isoBound(query.doneBefore);
  }
  (query.fields ?? []).forEach((filter, i) => {
    const [root, ...rest] = fieldPath(filter.path);
    const value = filter.value;
    const test = (path: string) =>
      value === null ? `json_type(meta, ${path}) = 'null'` : `json_extract(meta, ${path}) = @v${i}`;
    if (value !== null) params[`v${i}`] = typeof value === 'boolean' ? Number(value) : value;
    const entry = filterEntry(filter);
    if (entry !== undefined) {
      params[`e${i}`] = entry;
      params.overflow = OVERFLOW_FIELD;
      where.push(`task_id IN (SELECT task_id FROM ${fields} WHERE entry IN (@e${i}, @overflow))`);
      narrowed = true;
    }
    // Cheap text tests first, true whenever the exact one can be (task-listing.ts,
    // fieldNeedles): most rows end there, their JSON never parsed.
    fieldNeedles(filter).forEach((group, g) => {
      where.push(
        `(${group
          .map((needle, n) => {
            params[`n${i}_${g}_${n}`] = needle;
            return `instr(meta, @n${i}_${g}_${n}) > 0`;
          })
          .join(' OR ')})`,
      );
    });
    if (root === 'args' && rest.length > 0 && !/^\d+$/.test(rest[0]!)) {
      // Any positional argument that is an object with that field.
      params[`p${i}`] = jsonPath(rest);
      where.push(
        `EXISTS (SELECT 1 FROM json_each(meta, '$.args') AS a WHERE a.type = 'object' AND ${test(`'$.args[' || a.key || ']' || substr(@p${i}, 2)`)})`,
      );
    } else {
      params[`p${i}`] = jsonPath([root!, ...rest]);
      where.push(test(`@p${i}`));
    }
  });
  return { where, params, narrowed };
}

/** `$."a"[0]."b"`: names quoted, indexes bracketed (segments were checked by fieldPath). */
function jsonPath(segments: string[]): string {
  return `$${segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `."${s}"`)).join('')}`;
}

/**
 * A UTC time as the start of Celery's `date_done` texts: `2026-12-07T08:00:00`, with
 * `.123` only when there are milliseconds, so a stored `…08:00:00+00:00` (Python omits a
 * zero fraction) sorts at or after it, as its time does.
 */
function isoBound(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-12-07T08:00:00.000Z
  return iso.endsWith('.000Z') ? iso.slice(0, 19) : iso.slice(0, 23);
}
