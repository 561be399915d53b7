/**
 * What only the SQLite result backend shows: pushes from another process through the
 * shared file, one query serving many subscribers, lazy deletion of expired rows, and change sequences that never go back.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import { ResultStore } from '../../../src/backends/sqlite/result-store.js';
import { RevokedCache } from '../../../src/backends/sqlite/revoked-cache.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { makeMeta, sleep, waitFor } from '../../../src/testing/backend-conformance.js';
import { startChild } from '../../brokers/sqlite/child.js';
import { removeDb, tempDbPath } from '../../brokers/sqlite/temp-db.js';

const STORE_CHILD = 'test/backends/sqlite/fixtures/store-results.ts';

let file: string;
let url: string;
const opened: SqliteBackend[] = [];

async function openBackend(options: { resultExpiresMs?: number } = {}): Promise<SqliteBackend> {
  const backend = new SqliteBackend(url, options);
  await backend.connect();
  opened.push(backend);
  return backend;
}

beforeEach(() => {
  file = tempDbPath('backend');
  url = `sqlite://${file}`;
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const backend of opened.splice(0)) await backend.close();
  removeDb(file);
});

describe('SQLite result backend', () => {
  it('pushes results and revocations written by another process, many subscribers in one query', async () => {
    const backend = await openBackend();
    const ids = Array.from({ length: 300 }, (_, i) => `remote-${i}`);
    const got = new Map<string, ResultMeta>();
    for (const id of ids) await backend.subscribe(id, (meta) => got.set(id, meta));
    const revoked: Array<[string, boolean]> = [];
    await backend.onRevoke((id, terminate) => revoked.push([id, terminate]));
    const queries = vi.spyOn(ResultStore.prototype, 'changedResults');
    const child = startChild(STORE_CHILD, {
      url,
      store: ids.slice(0, 150),
      revoke: ['remote-299'],
    });
    await child.exited;
    await waitFor(
      '150 pushes and one revocation',
      () => got.size === 150 && revoked.length === 1,
      3000,
    );
    expect(got.get('remote-7')?.result).toBe('remote-7');
    expect(revoked).toEqual([['remote-299', true]]);
    // One query per wake-up for all 300 subscriptions, not one per subscriber.
    expect(queries.mock.calls.length).toBeLessThan(150);
    expect(queries.mock.calls.length).toBeGreaterThan(0);
  });

  it('pushes nothing stored before the subscription (get() reads that)', async () => {
    const backend = await openBackend();
    await backend.store(makeMeta('early', 'SUCCESS', 1));
    const seen: ResultMeta[] = [];
    await backend.subscribe('early', (meta) => seen.push(meta));
    const other = await openBackend();
    await other.store(makeMeta('unrelated', 'SUCCESS'));
    await sleep(300);
    expect(seen).toEqual([]);
    expect((await backend.get('early'))?.result).toBe(1);
  });

  it('deletes expired rows lazily, and hides them from reads until then', async () => {
    const first = await openBackend();
    await first.store(makeMeta('short', 'SUCCESS'), { expiresMs: 50 });
    await first.revoke(['short-revoke'], { expiresMs: 50 });
    await sleep(100);
    expect(await first.get('short')).toBeUndefined();
    expect(await first.isRevoked('short-revoke')).toBe(false);
    const raw = new Database(file);
    expect(raw.prepare(`SELECT COUNT(*) AS n FROM celeriac_results`).get()).toEqual({ n: 1 });
    const second = await openBackend(); // its first store runs the clean-up
    await second.store(makeMeta('keeper', 'SUCCESS'));
    expect(raw.prepare(`SELECT task_id FROM celeriac_results`).all()).toEqual([
      { task_id: 'keeper' },
    ]);
    expect(raw.prepare(`SELECT COUNT(*) AS n FROM celeriac_revoked`).get()).toEqual({ n: 0 });
    raw.close();
  });

  it('sees a revocation from another connection by the next turn, with one sequence read per turn', async () => {
    const worker = await openBackend();
    const other = await openBackend();
    await other.revoke(['before-start']);
    const selects = vi.spyOn(ResultStore.prototype, 'isRevoked');
    const reads = vi.spyOn(ResultStore.prototype, 'sequence');
    const ids = Array.from({ length: 100 }, (_, i) => `t-${i}`);
    expect(ids.map((id) => worker.isRevoked(id))).toEqual(ids.map(() => false));
    expect(worker.isRevoked('before-start')).toBe(true);
    expect(reads.mock.calls.filter(([name]) => name === 'revoked')).toHaveLength(1);
    await other.revoke(['t-7'], { expiresMs: 100 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(worker.isRevoked('t-7')).toBe(true);
    expect(worker.isRevoked('t-8')).toBe(false);
    await sleep(150);
    expect(worker.isRevoked('t-7')).toBe(false); // expired
    // Revoking in this instance is seen in the same turn.
    await worker.revoke(['t-9']);
    expect(worker.isRevoked('t-9')).toBe(true);
    expect(selects).not.toHaveBeenCalled();
  });

  it('asks the database per task once more revocations are live than it keeps in memory', async () => {
    const backend = await openBackend();
    await backend.revoke(['a', 'b', 'c']);
    const store = new ResultStore(
      { db: new Database(file), location: backend.location, release() {} },
      'celeriac_',
    );
    const cache = new RevokedCache(2);
    const selects = vi.spyOn(store, 'isRevoked');
    expect(cache.isRevoked(store, 'b', Date.now())).toBe(true);
    expect(cache.isRevoked(store, 'z', Date.now())).toBe(false);
    expect(selects).toHaveBeenCalledTimes(2);
    store.db.close();
  });

  it('keeps results forever when resultExpiresMs is 0', async () => {
    const backend = await openBackend({ resultExpiresMs: 0 });
    await backend.store(makeMeta('forever', 'SUCCESS'));
    const raw = new Database(file);
    expect(raw.prepare(`SELECT expires_at FROM celeriac_results`).get()).toEqual({ expires_at: 0 });
    raw.close();
  });

  it('never reuses a change sequence, even after the newest row is forgotten', async () => {
    const backend = await openBackend();
    await backend.store(makeMeta('a', 'SUCCESS'));
    await backend.store(makeMeta('b', 'SUCCESS'));
    await backend.forget(['b']);
    await backend.store(makeMeta('c', 'SUCCESS'));
    const raw = new Database(file);
    expect(raw.prepare(`SELECT task_id, seq FROM celeriac_results ORDER BY seq`).all()).toEqual([
      { task_id: 'a', seq: 1 },
      { task_id: 'c', seq: 3 },
    ]);
    raw.close();
  });
});
