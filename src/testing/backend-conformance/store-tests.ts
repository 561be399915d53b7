/**
 * Conformance: storing and reading results: round trip, overwrite, forget, expiry,
 * and pushes to subscribers (same instance and, when the harness can, another one).
 * Must stay backend-neutral (only the `ResultBackend` contract).
 */
import { expect, it } from 'vitest';
import type { ResultMeta } from '../../protocol/types.js';
import {
  makeMeta,
  openBackendSession,
  sleep,
  waitFor,
  type BackendHarnessFactory,
} from './harness.js';

export function storeTests(make: BackendHarnessFactory): void {
  it('returns undefined for a task it knows nothing about (PENDING)', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    expect(await s.backend.get(s.taskId('unknown'))).toBeUndefined();
  });

  it('stores a meta and reads it back unchanged', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const id = s.taskId();
    const meta = makeMeta(id, 'SUCCESS', { total: 3, items: ['a', null, 1.5], ok: true });
    meta.children = [[['child-id', null], null]];
    await s.backend.store(meta);
    expect(await s.backend.get(id)).toEqual(meta);
  });

  it('keeps only the latest meta stored for an id', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const id = s.taskId();
    await s.backend.store(makeMeta(id, 'STARTED'));
    await s.backend.store(
      makeMeta(id, 'FAILURE', {
        exc_type: 'ValueError',
        exc_message: ['bad'],
        exc_module: 'builtins',
      }),
    );
    expect((await s.backend.get(id))?.status).toBe('FAILURE');
  });

  it('forget deletes what is stored for the ids and leaves others', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [a, b, c] = [s.taskId('a'), s.taskId('b'), s.taskId('c')];
    for (const id of [a, b, c]) await s.backend.store(makeMeta(id, 'SUCCESS', id));
    await s.backend.forget([a, b]);
    expect(await s.backend.get(a)).toBeUndefined();
    expect(await s.backend.get(b)).toBeUndefined();
    expect((await s.backend.get(c))?.result).toBe(c);
    await s.backend.forget([]);
  });

  it('stops returning a meta after its expiry', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [short, long] = [s.taskId('short'), s.taskId('long')];
    await s.backend.store(makeMeta(short, 'SUCCESS'), { expiresMs: 300 });
    await s.backend.store(makeMeta(long, 'SUCCESS'), { expiresMs: 60_000 });
    expect(await s.backend.get(short)).toBeDefined();
    await waitFor(
      'the short-lived meta to expire',
      async () => (await s.backend.get(short)) === undefined,
      5000,
    );
    expect(await s.backend.get(long)).toBeDefined();
  });

  it('pushes each later meta of a task to its subscriber, in order, until unsubscribed', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const id = s.taskId();
    const seen: string[] = [];
    const unsubscribe = await s.backend.subscribe(id, (meta) => seen.push(meta.status));
    for (const status of ['RECEIVED', 'STARTED', 'PROGRESS', 'SUCCESS'])
      await s.backend.store(makeMeta(id, status));
    await waitFor('four pushes', () => seen.length >= 4);
    expect(seen).toEqual(['RECEIVED', 'STARTED', 'PROGRESS', 'SUCCESS']);
    await unsubscribe();
    await s.backend.store(makeMeta(id, 'SUCCESS', 'after'));
    await sleep(300);
    expect(seen.length).toBe(4);
  });

  it('pushes only a subscriber’s own task, to every subscriber of it', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const ids = Array.from({ length: 20 }, (_, i) => s.taskId(`many-${i}`));
    const got = new Map<string, ResultMeta[]>();
    const twice: ResultMeta[] = [];
    const unsubscribes = await Promise.all(
      ids.map((id) =>
        s.backend.subscribe(id, (meta) => got.set(id, [...(got.get(id) ?? []), meta])),
      ),
    );
    unsubscribes.push(await s.backend.subscribe(ids[0]!, (meta) => twice.push(meta)));
    await Promise.all(ids.map((id) => s.backend.store(makeMeta(id, 'SUCCESS', id))));
    await waitFor('a push for each of 20 tasks', () => got.size === 20 && twice.length === 1);
    for (const id of ids) expect(got.get(id)!.map((meta) => meta.result)).toEqual([id]);
    expect(twice[0]!.task_id).toBe(ids[0]);
    await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe()));
  });

  it('pushes a meta stored through another instance of the backend', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const other = await s.another();
    const id = s.taskId();
    const seen: ResultMeta[] = [];
    const unsubscribe = await s.backend.subscribe(id, (meta) => seen.push(meta));
    const storedAt = Date.now();
    await other.store(makeMeta(id, 'SUCCESS', 7));
    await waitFor('a push from the other instance', () => seen.length === 1, 3000);
    expect(Date.now() - storedAt).toBeLessThan(2000);
    expect(seen[0]!.result).toBe(7);
    expect((await s.backend.get(id))?.result).toBe(7);
    await unsubscribe();
  });
}
