/**
 * The task-listing contract (`ResultBackend.taskListing()`) on SQLite and Redis, the two
 * backends that implement it: newest change first (store order, within one millisecond
 * too) in cursor pages with no gap and no repeat, every filter (state, name, queue,
 * worker, time range, a field of the arguments or the result) agreeing with `count`, a re-stored task moving to the front, a forgotten
 * one leaving, and bad queries refused with TaskQueryError. Each test has its own SQLite
 * file or Redis key prefix, removed afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import type { ResultBackend } from '../../src/backends/backend.js';
import { createRedisBackend } from '../../src/backends/redis/index.js';
import { createSqliteBackend } from '../../src/backends/sqlite/index.js';
import {
  TaskQueryError,
  type TaskListing,
  type TaskQuery,
} from '../../src/backends/task-listing.js';
import { buildResultMeta } from '../../src/protocol/result-meta.js';
import type { JsonObject, JsonValue, TaskState } from '../../src/protocol/types.js';
import Database from 'better-sqlite3';
import { requireService } from '../support/services.js';
import { deleteByPrefix, rawClient, REDIS_URL } from '../brokers/redis/redis-test-support.js';

type Open = (test: TestContext) => Promise<ResultBackend>;

/** JSON as Python's json.dumps writes it (", " and ": " separators), as Celery stores metas. */
const pythonJson = (value: unknown) =>
  JSON.stringify(value).replace(/":/g, '": ').replace(/,"/g, ', "').replace(/,\{/g, ', {');

/** Rewrites a stored meta's text as Python's Celery would have written it. */
async function rewriteAsPython(kind: string, backend: ResultBackend, id: string, prefix: string) {
  const meta = await backend.get(id);
  expect(pythonJson(meta)).toContain('[{"customerId": 42, "tag": "vip"}]');
  if (kind === 'sqlite') {
    const db = new Database(
      (backend as unknown as { location: { filename: string } }).location.filename,
    );
    db.prepare('UPDATE celeriac_results SET meta = ? WHERE task_id = ?').run(pythonJson(meta), id);
    db.close();
  } else {
    const raw = rawClient();
    await raw.set(`${prefix}celery-task-meta-${id}`, pythonJson(meta));
    raw.disconnect();
  }
}

const BACKENDS: Array<[string, Open]> = [
  [
    'sqlite',
    async (test) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-listing-'));
      const backend = createSqliteBackend(`sqlite://${path.join(dir, 'r.db')}`, {
        resultExtended: true,
      });
      await backend.connect();
      test.onTestFinished(async () => {
        await backend.close();
        await rm(dir, { recursive: true, force: true });
      });
      return backend;
    },
  ],
  [
    'redis',
    async (test) => {
      await requireService(test, 'redis');
      const keyPrefix = `celeriac-test:${randomUUID()}:`;
      const backend = createRedisBackend(REDIS_URL, { keyPrefix, resultExtended: true });
      Object.assign(backend, { testPrefix: keyPrefix });
      await backend.connect();
      test.onTestFinished(async () => {
        await backend.close();
        const raw = rawClient();
        await deleteByPrefix(raw, keyPrefix);
        raw.disconnect();
      });
      return backend;
    },
  ],
];

interface Stored {
  id: string;
  state?: TaskState;
  name?: string;
  args?: JsonValue[];
  kwargs?: JsonObject;
  result?: JsonValue;
  queue?: string;
  worker?: string;
  doneAt?: Date | null;
}

async function store(backend: ResultBackend, task: Stored): Promise<void> {
  await backend.store(
    buildResultMeta({
      taskId: task.id,
      status: task.state ?? 'SUCCESS',
      result: task.result ?? null,
      dateDone: task.doneAt,
      extended: {
        name: task.name ?? 'shop.ship',
        args: task.args ?? [],
        kwargs: task.kwargs ?? {},
        worker: task.worker ?? 'w1@host',
        retries: 0,
        queue: task.queue ?? 'celery',
      },
    }),
  );
}

async function ids(listing: TaskListing, query: TaskQuery & { order?: 'asc' | 'desc' }) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await listing.list({ ...query, limit: 7, ...(cursor ? { cursor } : {}) });
    seen.push(...page.tasks.map((task) => task.task_id));
    if (!page.next) return seen;
    cursor = page.next;
  }
  throw new Error('more than 100 pages');
}

describe.each(BACKENDS)('task listing on %s', (_kind, open) => {
  it('pages newest first with cursors, no gap and no repeat, and a re-stored task moves to the front', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    const stored = Array.from({ length: 30 }, (_, i) => `t-${String(i).padStart(2, '0')}`);
    for (const id of stored) {
      await store(backend, { id, state: 'STARTED' });
      // Redis scores by the millisecond of the store: keep the order unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(await ids(listing, {})).toEqual([...stored].reverse());
    expect(await ids(listing, { order: 'asc' })).toEqual(stored);
    expect(await listing.count({})).toBe(30);
    await store(backend, { id: 't-03', state: 'SUCCESS' });
    const first = await listing.list({ limit: 2 });
    expect(first.tasks.map((task) => [task.task_id, task.status])).toEqual([
      ['t-03', 'SUCCESS'],
      ['t-29', 'STARTED'],
    ]);
    await backend.forget(['t-29']);
    expect((await listing.list({ limit: 2 })).tasks.map((task) => task.task_id)).toEqual([
      't-03',
      't-28',
    ]);
    expect((await ids(listing, {})).length).toBe(29);
  });

  it('orders tasks stored in the same millisecond by store order, and pages them with no gap and no repeat', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    // Ids whose text order is not their store order; stored in one turn (one batch, one ms).
    const stored = Array.from(
      { length: 120 },
      (_, i) => `same-${String((i * 37) % 120).padStart(3, '0')}`,
    );
    await Promise.all(
      stored.map((id, i) =>
        store(backend, { id, state: i % 2 ? 'SUCCESS' : 'FAILURE', kwargs: { batch: 7 } }),
      ),
    );
    expect(await ids(listing, {})).toEqual([...stored].reverse());
    expect(await ids(listing, { order: 'asc' })).toEqual(stored);
    const failed = stored.filter((_, i) => i % 2 === 0);
    expect(await ids(listing, { states: ['FAILURE'] })).toEqual([...failed].reverse());
    expect(await ids(listing, { states: ['FAILURE'], order: 'asc' })).toEqual(failed);
    const field = { fields: [{ path: 'kwargs.batch', value: 7 }] };
    expect(await ids(listing, { ...field, order: 'asc' })).toEqual(stored);
    // A later store still comes first, and a re-stored task moves to the front.
    await store(backend, { id: 'same-later', state: 'STARTED' });
    await store(backend, { id: stored[5]!, state: 'SUCCESS' });
    expect((await listing.list({ limit: 2 })).tasks.map((task) => task.task_id)).toEqual([
      stored[5],
      'same-later',
    ]);
    expect(new Set(await ids(listing, {})).size).toBe(121);
  });

  it('filters by state, name, queue, worker, time and argument or result fields, as count does', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    const at = (hour: number) => new Date(Date.UTC(2026, 11, 7, hour, 0, 0));
    await store(backend, {
      id: 'a',
      state: 'FAILURE',
      name: 'emails.send',
      args: [{ customerId: 42 }, 'x'],
      doneAt: at(7),
    });
    await store(backend, {
      id: 'b',
      state: 'FAILURE',
      name: 'emails.send',
      args: [{ customerId: 7 }],
      doneAt: at(8),
    });
    await store(backend, {
      id: 'c',
      state: 'SUCCESS',
      name: 'emails.send',
      kwargs: { customerId: 42 },
      result: { total: 3 },
      doneAt: at(9),
    });
    await store(backend, {
      id: 'd',
      state: 'FAILURE',
      name: 'orders.ship',
      args: ['x', { customerId: 42 }],
      queue: 'orders',
      worker: 'w2@host',
      doneAt: at(10),
    });
    await store(backend, {
      id: 'e',
      state: 'STARTED',
      name: 'orders.ship',
      args: [42],
      doneAt: null,
    });
    const cases: Array<[TaskQuery, string[]]> = [
      [{ states: ['FAILURE'] }, ['d', 'b', 'a']],
      [{ states: ['FAILURE', 'STARTED'], names: ['orders.ship'] }, ['e', 'd']],
      [{ queue: 'orders' }, ['d']],
      [{ worker: 'w2@host' }, ['d']],
      [{ doneAfter: at(8).getTime() }, ['d', 'c', 'b']],
      [{ doneAfter: at(8).getTime(), doneBefore: at(10).getTime() }, ['c', 'b']],
      [{ states: ['FAILURE'], names: ['emails.send'], doneAfter: at(8).getTime() }, ['b']],
      [{ fields: [{ path: 'args.customerId', value: 42 }] }, ['d', 'a']],
      [{ fields: [{ path: 'args.0.customerId', value: 42 }] }, ['a']],
      [{ fields: [{ path: 'args.0', value: 42 }] }, ['e']],
      [{ fields: [{ path: 'args.1', value: 'x' }] }, ['a']],
      [{ fields: [{ path: 'kwargs.customerId', value: 42 }] }, ['c']],
      [{ fields: [{ path: 'result.total', value: 3 }] }, ['c']],
      [{ fields: [{ path: 'args.customerId', value: '42' }] }, []],
      [{ states: ['REVOKED'] }, []],
    ];
    for (const [query, expected] of cases) {
      expect(await ids(listing, query), JSON.stringify(query)).toEqual(expected);
      expect(await listing.count(query), JSON.stringify(query)).toBe(expected.length);
    }
  });

  it("finds metas written as Python's Celery writes them (json.dumps spacing)", async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    await store(backend, {
      id: 'py',
      name: 'emails.send',
      args: [{ customerId: 42, tag: 'vip' }],
      kwargs: { flag: true },
    });
    await store(backend, { id: 'other', name: 'emails.send', args: [{ customerId: 7 }] });
    const prefix = (backend as unknown as { testPrefix?: string }).testPrefix ?? '';
    await rewriteAsPython(_kind, backend, 'py', prefix);
    expect(JSON.stringify(await backend.get('py'))).toBeDefined();
    for (const fields of [
      [{ path: 'args.customerId', value: 42 }],
      [{ path: 'args.0.tag', value: 'vip' }],
      [{ path: 'kwargs.flag', value: true }],
    ]) {
      expect(
        await ids(listing, { fields, states: ['SUCCESS'], names: ['emails.send'] }),
        JSON.stringify(fields),
      ).toEqual(['py']);
    }
  });

  it('field indexes: a task with more fields than indexed, a nested kwarg, a state left behind, a forgotten task', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    const wide = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`k${i}`, i]));
    await store(backend, { id: 'wide', kwargs: { ...wide, customerId: 42 } });
    await store(backend, {
      id: 'nested',
      kwargs: { order: { id: 'A7' } },
      args: [{ customerId: 42 }],
    });
    await store(backend, { id: 'moved', state: 'STARTED', args: [{ customerId: 42 }] });
    await store(backend, {
      id: 'moved',
      state: 'FAILURE',
      args: [{ customerId: 42 }],
      result: { exc_type: 'ValueError' },
    });
    const cases: Array<[TaskQuery, string[]]> = [
      [{ fields: [{ path: 'kwargs.customerId', value: 42 }] }, ['wide']],
      [{ fields: [{ path: 'kwargs.k79', value: 79 }] }, ['wide']],
      [{ fields: [{ path: 'kwargs.order.id', value: 'A7' }] }, ['nested']],
      [{ fields: [{ path: 'args.customerId', value: 42 }] }, ['moved', 'nested']],
      [{ fields: [{ path: 'result.exc_type', value: 'ValueError' }] }, ['moved']],
      [{ states: ['STARTED'] }, []],
      [{ states: ['FAILURE'], fields: [{ path: 'args.customerId', value: 42 }] }, ['moved']],
    ];
    for (const [query, expected] of cases) {
      // As sets: stores within one millisecond tie on their score (order has its own test).
      expect((await ids(listing, query)).sort(), JSON.stringify(query)).toEqual(expected.sort());
      expect(await listing.count(query), JSON.stringify(query)).toBe(expected.length);
    }
    await backend.forget(['moved']);
    expect(await listing.count({ states: ['FAILURE'] })).toBe(0);
    expect(await ids(listing, { fields: [{ path: 'args.customerId', value: 42 }] })).toEqual([
      'nested',
    ]);
  });

  it('counts every store by minute, name, queue and state, with run times', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    const since = Date.now() - 60_000;
    const started = new Date(Date.now() - 2_000).toISOString();
    await store(backend, { id: 'h', state: 'STARTED', name: 'emails.send', queue: 'mail' });
    const success = buildResultMeta({
      taskId: 'h',
      status: 'SUCCESS',
      result: 1,
      extended: {
        name: 'emails.send',
        args: [],
        kwargs: {},
        worker: 'w1',
        retries: 0,
        queue: 'mail',
      },
    });
    await backend.store({ ...success, date_started: started });
    await store(backend, { id: 'f', state: 'FAILURE', name: 'orders.ship' });
    const activity = await listing.activity!(since);
    const sum = (name: string, state: string) =>
      activity
        .filter((row) => row.name === name && row.state === state)
        .reduce((total, row) => total + row.count, 0);
    expect(sum('emails.send', 'STARTED')).toBe(1);
    expect(sum('emails.send', 'SUCCESS')).toBe(1);
    expect(sum('orders.ship', 'FAILURE')).toBe(1);
    expect(activity.every((row) => row.minute % 60_000 === 0 && row.minute >= since - 60_000)).toBe(
      true,
    );
    const totals = await listing.totals!();
    expect(totals.counts).toContainEqual({
      name: 'orders.ship',
      queue: 'celery',
      state: 'FAILURE',
      count: 1,
    });
    expect(totals.counts).toContainEqual({
      name: 'emails.send',
      queue: 'mail',
      state: 'SUCCESS',
      count: 1,
    });
    const runtime = totals.runtimes.find((entry) => entry.name === 'emails.send');
    expect(runtime?.buckets.reduce((a, b) => a + (b ?? 0), 0)).toBe(1);
    expect(runtime!.sum).toBeGreaterThan(1);
  });

  it('refuses a bad field path or a cursor it did not make', async (test) => {
    const backend = await open(test);
    const listing = backend.taskListing!();
    await expect(listing.list({ fields: [{ path: 'meta.x', value: 1 }] })).rejects.toThrow(
      TaskQueryError,
    );
    await expect(listing.list({ fields: [{ path: "args.a']--", value: 1 }] })).rejects.toThrow(
      TaskQueryError,
    );
    await expect(listing.list({ cursor: 'nonsense' })).rejects.toThrow(TaskQueryError);
  });
});
