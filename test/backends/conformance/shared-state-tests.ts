/**
 * Conformance: the state a backend shares between workers: revoked ids (query and push)
 * and chord joins (atomic part counting, results in index order).
 * Must stay backend-neutral (only the `ResultBackend` contract).
 */
import { expect, it } from 'vitest';
import { makeMeta, openBackendSession, waitFor, type BackendHarnessFactory } from './harness.js';

export function sharedStateTests(make: BackendHarnessFactory): void {
  it('answers which of the ids are revoked', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [a, b, c] = [s.taskId('a'), s.taskId('b'), s.taskId('c')];
    expect(await s.backend.revoked([a, b, c])).toEqual(new Set());
    await s.backend.revoke([a, c]);
    expect(await s.backend.revoked([a, b, c])).toEqual(new Set([a, c]));
    expect(await s.backend.revoked([])).toEqual(new Set());
  });

  it('tells onRevoke listeners about each revoked id with its terminate flag, until unsubscribed', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [a, b, c] = [s.taskId('a'), s.taskId('b'), s.taskId('c')];
    const seen: Array<[string, boolean]> = [];
    const unsubscribe = await s.backend.onRevoke((id, terminate) => seen.push([id, terminate]));
    await s.backend.revoke([a]);
    await s.backend.revoke([b], { terminate: true });
    await waitFor('two revoke pushes', () => seen.length >= 2);
    expect(seen).toEqual([
      [a, false],
      [b, true],
    ]);
    await unsubscribe();
    await s.backend.revoke([c]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.length).toBe(2);
  });

  it('tells onRevoke listeners of another instance', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const other = await s.another();
    const id = s.taskId();
    const seen: string[] = [];
    const unsubscribe = await s.backend.onRevoke((taskId) => seen.push(taskId));
    await other.revoke([id], { terminate: true });
    await waitFor('a revoke push from the other instance', () => seen.includes(id), 3000);
    expect(await s.backend.revoked([id])).toEqual(new Set([id]));
    await unsubscribe();
  });

  it('counts chord parts atomically: concurrent completions each see a distinct count', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const group = s.taskId('group');
    const size = 10;
    const counts = await Promise.all(
      Array.from({ length: size }, (_, index) => s.backend.chordPartDone(group, index, makeMeta(`${group}-${index}`, 'SUCCESS', index), size)),
    );
    expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
    expect(counts.filter((count) => count === size)).toHaveLength(1);
  });

  it('returns chord results in index order whatever the completion order', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const group = s.taskId('group');
    for (const index of [2, 0, 3, 1]) {
      await s.backend.chordPartDone(group, index, makeMeta(`${group}-${index}`, 'SUCCESS', index * 10), 4);
    }
    const results = await s.backend.chordResults(group);
    expect(results.map((meta) => meta.result)).toEqual([0, 10, 20, 30]);
    expect(results[1]!.task_id).toBe(`${group}-1`);
    expect(await s.backend.chordResults(s.taskId('empty'))).toEqual([]);
  });

  it('keeps chord joins of different groups apart', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [g1, g2] = [s.taskId('g1'), s.taskId('g2')];
    expect(await s.backend.chordPartDone(g1, 0, makeMeta('x', 'SUCCESS', 1), 2)).toBe(1);
    expect(await s.backend.chordPartDone(g2, 0, makeMeta('y', 'SUCCESS', 2), 2)).toBe(1);
    expect(await s.backend.chordPartDone(g1, 1, makeMeta('z', 'SUCCESS', 3), 2)).toBe(2);
    expect((await s.backend.chordResults(g2)).map((meta) => meta.result)).toEqual([2]);
  });
}
