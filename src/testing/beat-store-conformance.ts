/**
 * The beat-store conformance suite: every store beat can run on (SQLite, Redis, memory://,
 * a third-party backend's) must pass it. A store's test file calls
 * `describeBeatStoreConformance(name, make)`, where `make` opens a fresh, isolated store for
 * one test (or returns `{ skip: reason }`). Must never depend on one store's behaviour
 * beyond the `BeatStore` contract.
 *
 * @example
 *   describeBeatStoreConformance('memory', async ({ id }) => {
 *     const backend = createMemoryBackend(`memory://${id}`);
 *     await backend.connect();
 *     return { store: backend.beatStore(), cleanup: () => backend.close() };
 *   });
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, type TestContext } from 'vitest';
import type { BeatStore, EntryDefinition } from '../backends/beat-store.js';

export interface BeatStoreConformanceContext {
  /** vitest's context of the running test; `ctx.skip(reason)` skips it. */
  test: TestContext;
  /** Short, unique, `[a-z0-9-]` only: derive key prefixes or file names from it. */
  id: string;
}

export interface BeatStoreHarness {
  /** Not opened yet: the suite opens it. Closed by `cleanup`. */
  store: BeatStore;
  /** Closes the store (and what it stands on) and removes what the test left. */
  cleanup: () => Promise<void>;
  /** Another store on the same data (another connection or process view), opened and closed by the suite. */
  openAnother?: () => Promise<BeatStore>;
}

export type BeatStoreHarnessFactory = (
  ctx: BeatStoreConformanceContext,
) => Promise<BeatStoreHarness | { skip: string }>;

const LEASE_MS = 10_000;
const T0 = Date.parse('2026-03-29T00:00:30Z');
const SLOT = Date.parse('2026-03-29T00:01:00Z');

function definition(name: string, changes: Partial<EntryDefinition> = {}): EntryDefinition {
  return {
    name,
    task: 'conformance.tick',
    schedule: { kind: 'interval', everyMs: 60_000 },
    args: [1, 'two'],
    kwargs: { three: 3 },
    options: { queue: 'conformance' },
    missedRunPolicy: 'catch-up-once',
    enabled: true,
    source: 'store',
    ...changes,
  };
}

async function open(
  ctx: TestContext,
  make: BeatStoreHarnessFactory,
): Promise<{ store: BeatStore; another: () => Promise<BeatStore> }> {
  const made = await make({ test: ctx, id: `c${randomUUID().replaceAll('-', '').slice(0, 12)}` });
  if ('skip' in made) ctx.skip(made.skip);
  const harness = made;
  const extra: BeatStore[] = [];
  ctx.onTestFinished(async () => {
    for (const store of extra) await store.close().catch(() => undefined);
    await harness.cleanup();
  });
  await harness.store.open();
  return {
    store: harness.store,
    async another() {
      if (!harness.openAnother) ctx.skip('the harness cannot open a second store on the same data');
      const store = await harness.openAnother();
      extra.push(store);
      await store.open();
      return store;
    },
  };
}

export function describeBeatStoreConformance(name: string, make: BeatStoreHarnessFactory): void {
  describe(`beat store conformance: ${name}`, () => {
    it('stores an entry with an empty run history and lists entries by name', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('b'), T0);
      await store.upsert(definition('a', { enabled: false }), T0);
      expect(await store.get('b')).toEqual({
        ...definition('b'),
        createdAt: T0,
        lastRunAt: null,
        totalRuns: 0,
        runNowAt: null,
        lastTaskId: null,
        pendingTaskId: null,
        pendingSlot: null,
      });
      expect((await store.list()).map((entry) => [entry.name, entry.enabled])).toEqual([
        ['a', false],
        ['b', true],
      ]);
      expect(await store.get('missing')).toBeUndefined();
    });

    it('keeps the history of an unchanged definition and restarts a changed one at the edit', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('e'), T0);
      const token = await store.lead('leader', LEASE_MS, T0);
      expect(await store.claimRun('e', SLOT, 'leader', token!, 'run-1')).toBe(true);
      await store.upsert(definition('e'), T0 + 1000);
      expect(await store.get('e')).toMatchObject({ createdAt: T0, lastRunAt: SLOT });
      await store.upsert(definition('e', { args: [2] }), T0 + 2000);
      expect(await store.get('e')).toMatchObject({
        createdAt: T0 + 2000,
        lastRunAt: null,
        args: [2],
      });
    });

    it('syncCode upserts code entries and removes code entries no longer declared, not stored ones', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.syncCode(
        [definition('kept', { source: 'code' }), definition('gone', { source: 'code' })],
        T0,
      );
      await store.upsert(definition('runtime'), T0);
      await store.syncCode([definition('kept', { source: 'code' })], T0 + 1000);
      expect((await store.list()).map((entry) => entry.name)).toEqual(['kept', 'runtime']);
      expect(await store.remove('runtime')).toBe(true);
      expect(await store.remove('runtime')).toBe(false);
    });

    it('disables an entry, and re-enabling restarts its schedule at that time', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('e'), T0);
      const token = await store.lead('leader', LEASE_MS, T0);
      expect(await store.claimRun('e', SLOT, 'leader', token!, 'run-1')).toBe(true);
      expect(await store.setEnabled('e', false, T0)).toBe(true);
      expect(await store.claimRun('e', SLOT + 60_000, 'leader', token!, 'refused')).toBe(false);
      expect(await store.setEnabled('e', true, SLOT + 120_000)).toBe(true);
      expect(await store.get('e')).toMatchObject({
        enabled: true,
        createdAt: SLOT + 120_000,
        lastRunAt: null,
      });
      expect(await store.setEnabled('missing', true, T0)).toBe(false);
    });

    it('claims a run-now request once and records the run as pending until confirmed', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('e'), T0);
      expect(await store.requestRunNow('missing', T0)).toBe(false);
      expect(await store.requestRunNow('e', T0)).toBe(true);
      expect((await store.get('e'))?.runNowAt).toBe(T0);
      const token = await store.lead('leader', LEASE_MS, T0);
      expect(await store.claimRun('e', null, 'leader', token!, 'now-1')).toBe(true);
      expect(await store.claimRun('e', null, 'leader', token!, 'now-2')).toBe(false);
      expect(await store.get('e')).toMatchObject({
        runNowAt: null,
        lastTaskId: 'now-1',
        pendingTaskId: 'now-1',
        totalRuns: 1,
      });
      expect(await store.confirmRun('e', 'another-id', 'leader', token!)).toBe(false);
      expect((await store.get('e'))?.pendingTaskId).toBe('now-1');
      expect(await store.confirmRun('e', 'now-1', 'leader', token!)).toBe(true);
      expect(await store.get('e')).toMatchObject({
        pendingTaskId: null,
        pendingSlot: null,
        lastTaskId: 'now-1',
      });
    });

    it('claims each slot once, in order, and records it as the last run', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('e'), T0);
      const token = await store.lead('leader', LEASE_MS, T0);
      expect(await store.claimRun('e', SLOT, 'leader', token!, 'run-1')).toBe(true);
      expect(await store.get('e')).toMatchObject({
        lastRunAt: SLOT,
        totalRuns: 1,
        pendingTaskId: 'run-1',
        pendingSlot: SLOT,
      });
      expect(await store.claimRun('e', SLOT, 'leader', token!, 'again')).toBe(false);
      expect(await store.claimRun('e', SLOT - 60_000, 'leader', token!, 'earlier')).toBe(false);
      expect(await store.claimRun('e', SLOT + 60_000, 'leader', token!, 'run-2')).toBe(true);
      expect(await store.claimRun('missing', SLOT, 'leader', token!, 'nothing')).toBe(false);
      expect(await store.get('e')).toMatchObject({
        lastRunAt: SLOT + 60_000,
        totalRuns: 2,
        lastTaskId: 'run-2',
      });
    });

    it('leads one owner at a time, with a token that grows when leadership changes hands', async (ctx) => {
      const { store } = await open(ctx, make);
      const first = await store.lead('a', LEASE_MS, T0);
      expect(first).not.toBeNull();
      expect(await store.lead('a', LEASE_MS, T0 + 1000)).toBe(first);
      expect(await store.lead('b', LEASE_MS, T0 + 2000)).toBeNull();
      const second = await store.lead('b', LEASE_MS, T0 + 1000 + LEASE_MS + 1);
      expect(second).toBeGreaterThan(first!);
      expect(await store.lead('a', LEASE_MS, T0 + 1000 + LEASE_MS + 2)).toBeNull();
      await store.resign('a'); // not the leader: changes nothing
      expect(await store.lead('a', LEASE_MS, T0 + 1000 + LEASE_MS + 3)).toBeNull();
      await store.resign('b');
      const third = await store.lead('a', LEASE_MS, T0 + 1000 + LEASE_MS + 4);
      expect(third).toBeGreaterThan(second!);
    });

    it('refuses every claim made with the token of a leadership that was taken over', async (ctx) => {
      const { store } = await open(ctx, make);
      await store.upsert(definition('e'), T0);
      await store.requestRunNow('e', T0);
      const old = await store.lead('old', LEASE_MS, T0);
      const fresh = await store.lead('new', LEASE_MS, T0 + LEASE_MS + 1);
      expect(await store.claimRun('e', SLOT, 'old', old!, 'stale-slot')).toBe(false);
      expect(await store.claimRun('e', null, 'old', old!, 'stale-now')).toBe(false);
      expect(await store.claimRun('e', SLOT, 'new', old!, 'wrong-token')).toBe(false);
      expect(await store.get('e')).toMatchObject({
        totalRuns: 0,
        lastRunAt: null,
        runNowAt: T0,
        pendingTaskId: null,
      });
      expect(await store.claimRun('e', SLOT, 'new', fresh!, 'fresh')).toBe(true);
    });

    it('confirms a run only for its claimant or the current leader, never under a stale token', async (ctx) => {
      const { store, another } = await open(ctx, make);
      const other = await another();
      await store.upsert(definition('e'), T0);
      await store.upsert(definition('orphan'), T0);
      const old = await store.lead('old', LEASE_MS, T0);
      expect(await store.claimRun('e', SLOT, 'old', old!, 'sent-late')).toBe(true);
      expect(await store.claimRun('orphan', SLOT, 'old', old!, 'orphaned')).toBe(true);
      const fresh = await other.lead('new', LEASE_MS, T0 + LEASE_MS + 1);
      // Deposed while sending: it may still confirm the run it claimed and sent, or the new
      // leader would recover it and send it a second time.
      expect(await store.confirmRun('e', 'sent-late', 'old', old!)).toBe(true);
      // The new leader claims the next slot; the deposed beat's late confirm of that run (a
      // recovery it started when it still led) is refused, however the token is mixed.
      expect(await other.claimRun('e', SLOT + 60_000, 'new', fresh!, 'new-run')).toBe(true);
      expect(await store.confirmRun('e', 'new-run', 'old', old!)).toBe(false);
      expect(await store.confirmRun('e', 'new-run', 'new', old!)).toBe(false);
      expect(await store.confirmRun('e', 'new-run', 'old', fresh!)).toBe(false);
      expect(await store.get('e')).toMatchObject({
        pendingTaskId: 'new-run',
        pendingSlot: SLOT + 60_000,
      });
      expect(await other.confirmRun('e', 'new-run', 'new', fresh!)).toBe(true);
      expect(await store.get('e')).toMatchObject({ pendingTaskId: null, pendingSlot: null });
      expect(await other.confirmRun('e', 'new-run', 'new', fresh!)).toBe(false);
      // The leader recovering a run another claimed confirms it under its own token.
      expect(await store.confirmRun('orphan', 'orphaned', 'third', fresh!)).toBe(false);
      expect((await store.get('orphan'))?.pendingTaskId).toBe('orphaned');
      expect(await other.confirmRun('orphan', 'orphaned', 'new', fresh!)).toBe(true);
      expect((await store.get('orphan'))?.pendingTaskId).toBeNull();
    });

    it('lets exactly one of two racing claims of a slot win, across instances', async (ctx) => {
      const { store, another } = await open(ctx, make);
      const other = await another();
      await store.upsert(definition('e'), T0);
      const token = await store.lead('leader', LEASE_MS, T0);
      const slots = Array.from({ length: 20 }, (_, i) => SLOT + i * 60_000);
      for (const slot of slots) {
        const won = await Promise.all([
          store.claimRun('e', slot, 'leader', token!, `a-${slot}`),
          other.claimRun('e', slot, 'leader', token!, `b-${slot}`),
        ]);
        expect(won.filter(Boolean)).toHaveLength(1);
      }
      expect((await other.get('e'))?.totalRuns).toBe(20);
    });
  });
}
