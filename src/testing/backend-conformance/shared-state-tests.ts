/**
 * Conformance: the state a backend shares between workers: revoked ids (query and push).
 * Must stay backend-neutral (only the `ResultBackend` contract).
 */
import { expect, it } from 'vitest';
import { openBackendSession, waitFor, type BackendHarnessFactory } from './harness.js';

export function sharedStateTests(make: BackendHarnessFactory): void {
  it('answers whether an id is revoked, before and after revoke, listened to or not', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    const [a, b, c] = [s.taskId('a'), s.taskId('b'), s.taskId('c')];
    expect(await s.backend.isRevoked(a)).toBe(false);
    await s.backend.revoke([a, c]);
    expect([
      await s.backend.isRevoked(a),
      await s.backend.isRevoked(b),
      await s.backend.isRevoked(c),
    ]).toEqual([true, false, true]);
    // A backend that mirrors revocations while listened to must answer the same from its mirror.
    const unsubscribe = await s.backend.onRevoke(() => undefined);
    expect([
      await s.backend.isRevoked(a),
      await s.backend.isRevoked(b),
      await s.backend.isRevoked(c),
    ]).toEqual([true, false, true]);
    await s.backend.revoke([b]);
    expect(await s.backend.isRevoked(b)).toBe(true);
    await unsubscribe();
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
    expect(await s.backend.isRevoked(id)).toBe(true);
    await unsubscribe();
  });
}
