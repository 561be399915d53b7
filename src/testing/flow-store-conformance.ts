/**
 * The flow-store conformance suite: every store flow control runs on (SQLite, Redis,
 * memory://, a third-party backend's) must pass it. A store's test file calls
 * `describeFlowStoreConformance(name, make)`, where `make` opens a fresh, isolated store
 * for one test (or returns `{ skip: reason }`). Must never depend on one store's
 * behaviour beyond the `FlowStore` contract.
 *
 * @example
 *   describeFlowStoreConformance('memory', async ({ id }) => {
 *     const backend = createMemoryBackend(`memory://${id}`);
 *     await backend.connect();
 *     return { store: backend.flowStore(), cleanup: () => backend.close() };
 *   });
 */
import { describe, expect, it, type TestContext } from 'vitest';
import type { FlowStore, RateSpec } from '../backends/flow-store.js';

export interface FlowStoreConformanceContext {
  /** vitest's context of the running test; `ctx.skip(reason)` skips it. */
  test: TestContext;
  /** Short, unique, `[a-z0-9-]` only: derive key prefixes or file names from it. */
  id: string;
}

export interface FlowStoreHarness {
  /** Not opened yet: the suite opens it. Closed by `cleanup`. */
  store: FlowStore;
  /** Closes the store (and what it stands on) and removes what the test left. */
  cleanup: () => Promise<void>;
  /** Another store on the same data (another connection), opened and closed by the suite. */
  openAnother?: () => Promise<FlowStore>;
}

export type FlowStoreHarnessFactory = (
  ctx: FlowStoreConformanceContext,
) => Promise<FlowStoreHarness | { skip: string }>;

const TEN_PER_SECOND: RateSpec = { tokens: 10, perMs: 1000, burst: 1 };
const NOW = { taken: true, waitMs: 0 };

export function describeFlowStoreConformance(name: string, make: FlowStoreHarnessFactory): void {
  describe(`flow store conformance: ${name}`, () => {
    let counter = 0;
    const withStore = (
      title: string,
      body: (store: FlowStore, harness: FlowStoreHarness) => Promise<void>,
    ): void => {
      it(title, async (test) => {
        const id = `fs-${process.pid}-${Date.now().toString(36)}-${counter++}`;
        const made = await make({ test, id });
        if ('skip' in made) {
          test.skip(made.skip);
          return;
        }
        const others: FlowStore[] = [];
        const harness: FlowStoreHarness = {
          ...made,
          ...(made.openAnother && {
            openAnother: async () => {
              const other = await made.openAnother!();
              await other.open();
              others.push(other);
              return other;
            },
          }),
        };
        try {
          await made.store.open();
          await body(made.store, harness);
        } finally {
          for (const other of others) await other.close();
          await made.store.close();
          await made.cleanup();
        }
      });
    };

    withStore(
      'a new bucket is full; an empty one says how long until the next token',
      async (store) => {
        const now = Date.now();
        const rate: RateSpec = { tokens: 10, perMs: 1000, burst: 3 };
        for (let i = 0; i < 3; i++) expect(await store.take('b', rate, now)).toEqual(NOW);
        const { taken, waitMs } = await store.take('b', rate, now);
        expect(taken).toBe(false);
        expect(waitMs).toBeGreaterThanOrEqual(99);
        expect(waitMs).toBeLessThanOrEqual(101);
        // Refilled at 10 per second: one token 100 ms later, not two.
        expect(await store.take('b', rate, now + 100)).toEqual(NOW);
        expect((await store.take('b', rate, now + 100)).taken).toBe(false);
        // Another key is another bucket.
        expect(await store.take('other', rate, now)).toEqual(NOW);
      },
    );

    withStore('a bucket never holds more than its burst, however long it rested', async (store) => {
      const now = Date.now();
      expect(await store.take('b', TEN_PER_SECOND, now)).toEqual(NOW);
      expect(await store.take('b', TEN_PER_SECOND, now + 60_000)).toEqual(NOW);
      expect((await store.take('b', TEN_PER_SECOND, now + 60_000)).taken).toBe(false);
    });

    withStore('a take within the reserve window books the next tokens in turn', async (store) => {
      const now = Date.now();
      expect(await store.take('b', TEN_PER_SECOND, now, 1000)).toEqual(NOW);
      const booked = [];
      for (let i = 0; i < 3; i++) booked.push(await store.take('b', TEN_PER_SECOND, now, 1000));
      expect(booked.map((b) => b.taken)).toEqual([true, true, true]);
      expect(booked.map((b) => Math.round(b.waitMs / 10) * 10)).toEqual([100, 200, 300]);
      // Past the window nothing is booked, and the one after still waits its turn.
      const late = await store.take('b', TEN_PER_SECOND, now, 350);
      expect(late.taken).toBe(false);
      expect(late.waitMs).toBeGreaterThan(350);
      expect((await store.take('b', TEN_PER_SECOND, now + 400)).taken).toBe(true);
      expect((await store.take('b', TEN_PER_SECOND, now + 400)).taken).toBe(false);
    });

    withStore(
      'takes from two connections at once never exceed the tokens',
      async (store, harness) => {
        const other = harness.openAnother ? await harness.openAnother() : store;
        const now = Date.now();
        const rate: RateSpec = { tokens: 1, perMs: 60_000, burst: 5 };
        const takes = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).take('b', rate, now)),
        );
        expect(takes.filter((t) => t.taken)).toHaveLength(5);
      },
    );

    withStore('at most `limit` holders; holding again renews; release frees', async (store) => {
      const now = Date.now();
      expect(await store.acquire('k', 'a', 2, 5000, now)).toBe(true);
      expect(await store.acquire('k', 'b', 2, 5000, now)).toBe(true);
      expect(await store.acquire('k', 'c', 2, 5000, now)).toBe(false);
      expect(await store.acquire('k', 'a', 2, 5000, now)).toBe(true);
      expect(await store.acquire('other', 'c', 2, 5000, now)).toBe(true);
      await store.release('k', 'a');
      await store.release('k', 'nobody');
      expect(await store.acquire('k', 'c', 2, 5000, now)).toBe(true);
      expect(await store.acquire('k', 'd', 2, 5000, now)).toBe(false);
    });

    withStore('an expired lease frees its slot; a renewed one holds on', async (store) => {
      const now = Date.now();
      expect(await store.acquire('k', 'a', 2, 1000, now)).toBe(true);
      expect(await store.acquire('k', 'b', 2, 1000, now)).toBe(true);
      await store.renew([{ key: 'k', holder: 'b' }], 1000, now + 900);
      // At now + 1000 a's lease has ended (b's runs to now + 1900): one slot is free.
      expect(await store.acquire('k', 'c', 2, 1000, now + 1000)).toBe(true);
      expect(await store.acquire('k', 'd', 2, 1000, now + 1000)).toBe(false);
      // A lease already lost is not brought back by a renew.
      await store.renew([{ key: 'k', holder: 'a' }], 1000, now + 1000);
      expect(await store.acquire('k', 'd', 2, 1000, now + 1001)).toBe(false);
    });

    withStore(
      'acquires racing from two connections never exceed the limit',
      async (store, harness) => {
        const other = harness.openAnother ? await harness.openAnother() : store;
        const now = Date.now();
        const held = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            (i % 2 ? other : store).acquire('k', `h${i}`, 3, 5000, now),
          ),
        );
        expect(held.filter(Boolean)).toHaveLength(3);
      },
    );

    withStore(
      'a claim holds for its window and returns its owner to later claims',
      async (store) => {
        const now = Date.now();
        expect(await store.claim('c', 'task-1', 1000, now)).toBe('task-1');
        expect(await store.claim('c', 'task-2', 1000, now + 10)).toBe('task-1');
        expect(await store.claim('c', 'task-3', 1000, now + 1001)).toBe('task-3');
        await store.unclaim('c', 'task-1');
        expect(await store.claim('c', 'task-4', 1000, now + 1002)).toBe('task-3');
        await store.unclaim('c', 'task-3');
        expect(await store.claim('c', 'task-5', 1000, now + 1002)).toBe('task-5');
      },
    );

    withStore(
      'fifty claims racing from two connections agree on one owner',
      async (store, harness) => {
        const other = harness.openAnother ? await harness.openAnother() : store;
        const now = Date.now();
        const owners = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 ? other : store).claim('c', `t${i}`, 5000, now),
          ),
        );
        expect(new Set(owners).size).toBe(1);
      },
    );

    withStore('inspect lists live buckets, slots and claims under a prefix', async (store) => {
      const now = Date.now();
      const rate: RateSpec = { tokens: 1, perMs: 60_000, burst: 2 };
      await store.take('t1:rate:x', rate, now);
      await store.acquire('t1:conc:y', 'a', 3, 5000, now);
      await store.acquire('t1:conc:y', 'b', 3, 5000, now);
      await store.acquire('t1:conc:gone', 'a', 3, 10, now);
      await store.claim('t1:idem:z', 'task-9', 5000, now);
      await store.take('t2:rate:x', rate, now);
      const entries = await store.inspect('t1:', now + 20);
      expect(entries.map((e) => e.key)).toEqual(['t1:conc:y', 't1:idem:z', 't1:rate:x']);
      expect(entries[0]).toMatchObject({ kind: 'slots', held: 2 });
      expect(entries[1]).toMatchObject({ kind: 'claim', taskId: 'task-9' });
      expect(entries[2]).toMatchObject({ kind: 'bucket' });
      expect(entries[2]!.tokens).toBeCloseTo(1, 2);
    });

    withStore(
      'debounce: calls in a window share its task id and move its due time; the last payload runs once',
      async (store) => {
        const now = Date.now();
        const keep = 60_000;
        expect(await store.debounce('d', 'w1', '["a"]', 1000, now, keep)).toEqual({
          taskId: 'w1',
          opened: true,
        });
        expect(await store.debounce('d', 'w2', '["b"]', 1000, now + 500, keep)).toEqual({
          taskId: 'w1',
          opened: false,
        });
        expect(await store.debounceTake('d', 'w1', now + 1000, keep)).toEqual({
          kind: 'wait',
          dueAt: now + 1500,
        });
        expect(await store.debounceTake('d', 'w1', now + 1500, keep)).toEqual({
          kind: 'run',
          payload: '["b"]',
        });
        // A redelivery runs the same payload; a later call opens a new window.
        expect(await store.debounceTake('d', 'w1', now + 1600, keep)).toEqual({
          kind: 'run',
          payload: '["b"]',
        });
        expect(await store.debounce('d', 'w3', '["c"]', 1000, now + 1600, keep)).toEqual({
          taskId: 'w3',
          opened: true,
        });
        expect(await store.debounceTake('d', 'nobody', now + 1600, keep)).toEqual({
          kind: 'unknown',
        });
        // A window whose message was not sent is dropped: the next call opens another.
        await store.debounceDrop('d', 'w3');
        expect((await store.debounce('d', 'w4', '[]', 1000, now + 1700, keep)).opened).toBe(true);
      },
    );

    withStore(
      'debounce calls racing from two connections open one window',
      async (store, harness) => {
        const other = harness.openAnother ? await harness.openAnother() : store;
        const now = Date.now();
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            (i % 2 ? other : store).debounce('d', `w${i}`, `[${i}]`, 1000, now, 60_000),
          ),
        );
        expect(new Set(results.map((r) => r.taskId)).size).toBe(1);
        expect(results.filter((r) => r.opened)).toHaveLength(1);
      },
    );

    withStore(
      'fairness serves keys round-robin; a key that joins is served next',
      async (store) => {
        for (let i = 0; i < 5; i++) await store.fairPush('g', 'a', `a${i}`, `pa${i}`);
        expect(await store.fairTake('g', 't0')).toEqual({ id: 'a0', payload: 'pa0' });
        await store.fairPush('g', 'b', 'b0', 'pb0');
        await store.fairPush('g', 'b', 'b1', 'pb1');
        await store.fairPush('g', 'c', 'c0', 'pc0');
        const order = [];
        for (let i = 1; i <= 7; i++) order.push((await store.fairTake('g', `t${i}`))?.id);
        // Each key once per round: a and b never twice before c's single task.
        expect(order.slice(0, 3).sort()).toEqual(['a1', 'b0', 'c0']);
        expect(order.slice(3, 5).sort()).toEqual(['a2', 'b1']);
        expect(order.slice(5)).toEqual(['a3', 'a4']);
        expect(await store.fairTake('g', 't8')).toBeUndefined();
      },
    );

    withStore(
      'fairness: a token asked again gets its task back until done; a removed task is skipped',
      async (store) => {
        await store.fairPush('g', 'a', 'a0', 'p0');
        await store.fairPush('g', 'a', 'a1', 'p1');
        await store.fairPush('g', 'a', 'a2', 'p2');
        await store.fairRemove('g', 'a', 'a1');
        expect(await store.fairTake('g', 'tok')).toEqual({ id: 'a0', payload: 'p0' });
        expect(await store.fairTake('g', 'tok')).toEqual({ id: 'a0', payload: 'p0' });
        // Taken: a remove does nothing to it.
        await store.fairRemove('g', 'a', 'a0');
        await store.fairDone('g', 'tok');
        expect(await store.fairTake('g', 'tok')).toEqual({ id: 'a2', payload: 'p2' });
        await store.fairDone('g', 'tok');
        expect(await store.fairTake('g', 'tok2')).toBeUndefined();
      },
    );

    withStore(
      'fairness takes racing from two connections hand each task to one token',
      async (store, harness) => {
        const other = harness.openAnother ? await harness.openAnother() : store;
        for (let i = 0; i < 20; i++) await store.fairPush('g', `k${i % 3}`, `id${i}`, `p${i}`);
        const taken = await Promise.all(
          Array.from({ length: 30 }, (_, i) => (i % 2 ? other : store).fairTake('g', `tok${i}`)),
        );
        const ids = taken.flatMap((t) => (t ? [t.id] : []));
        expect(ids).toHaveLength(20);
        expect(new Set(ids).size).toBe(20);
      },
    );

    withStore('inspect lists open debounce windows and fairness backlogs', async (store) => {
      const now = Date.now();
      await store.debounce('t1:deb:u', 'w1', '[]', 1000, now, 60_000);
      await store.fairPush('t1:fair', 'x', 'i1', '{}');
      await store.fairPush('t1:fair', 'x', 'i2', '{}');
      await store.fairPush('t1:fair', 'y', 'i3', '{}');
      await store.fairPush('t2:fair', 'x', 'i4', '{}');
      const entries = await store.inspect('t1:', now);
      expect(entries).toEqual([
        { key: 't1:deb:u', kind: 'debounce', taskId: 'w1', dueAt: now + 1000 },
        { key: 't1:fair:x', kind: 'fair', waiting: 2 },
        { key: 't1:fair:y', kind: 'fair', waiting: 1 },
      ]);
    });
  });
}
