/**
 * The Redis flow store is Redis-Cluster safe: every script touches keys of one hash slot.
 * A private redis-server in cluster mode (one node owning every slot) refuses a script
 * whose keys, declared or computed in Lua, span slots (CROSSSLOT, or "a non local key"),
 * so the whole flow-store conformance suite run against it fails on any such step. Then
 * a check that each unit's keys share one slot while the units spread over several.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFlowStoreConformance } from '../../src/testing/conformance.js';
import { createRedisBackend } from '../../src/backends/redis/index.js';

const PORT = 7000 + (process.pid % 900);
const URL = `redis://127.0.0.1:${PORT}/0`;
let server: Promise<{ child: ChildProcess; dir: string } | { skip: string }> | undefined;

/** Starts the cluster-mode server once (the first test to need it), every slot on it. */
function cluster(): Promise<{ child: ChildProcess; dir: string } | { skip: string }> {
  server ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-cluster-'));
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(PORT),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, 'nodes.conf'),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    const failed = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`redis-server not runnable: ${error.message}`));
    });
    const admin = new Redis({
      port: PORT,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    admin.on('error', () => undefined); // refused until the server listens
    const deadline = Date.now() + 10_000;
    for (;;) {
      const why = await Promise.race([failed, sleep(100).then(() => undefined)]);
      if (why) return { skip: why };
      try {
        await admin.connect();
        break;
      } catch {
        if (Date.now() > deadline) return { skip: 'the cluster-mode redis-server did not start' };
      }
    }
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('the cluster never reached cluster_state:ok');
      await sleep(50);
    }
    admin.disconnect();
    return { child, dir };
  })();
  return server;
}

afterAll(async () => {
  const started = await server;
  if (!started || 'skip' in started) return;
  const exited = new Promise((resolve) => started.child.once('exit', resolve));
  started.child.kill('SIGTERM');
  await exited;
  rmSync(started.dir, { recursive: true, force: true });
});

describeFlowStoreConformance('redis in cluster mode', async ({ id }) => {
  const started = await cluster();
  if ('skip' in started) return started;
  const keyPrefix = `celeriac-test:${id}:`;
  const backend = createRedisBackend(URL, { keyPrefix });
  return {
    store: backend.flowStore(),
    openAnother: () => Promise.resolve(createRedisBackend(URL, { keyPrefix }).flowStore()),
    cleanup: () => backend.close(),
  };
});

describe('redis flow keys in cluster mode', () => {
  it('each step’s keys share a slot; units spread over slots', async (ctx) => {
    const started = await cluster();
    if ('skip' in started) return ctx.skip(started.skip);
    const store = createRedisBackend(URL, { keyPrefix: 'slots-check:' }).flowStore();
    const redis = new Redis({ port: PORT, host: '127.0.0.1' });
    try {
      await store.open();
      const now = Date.now();
      const rate = { tokens: 1, perMs: 1000, burst: 1 };
      await store.take('t:rate:a', rate, now);
      await store.take('t:rate:b', rate, now);
      await store.acquire('t:conc:a', 'h1', 1, 60_000, now);
      await store.acquire('t:conc:b', 'h2', 1, 60_000, now);
      await store.renew(
        [
          { key: 't:conc:a', holder: 'h1' },
          { key: 't:conc:b', holder: 'h2' },
        ],
        60_000,
        now,
      );
      await store.debounce('t:deb:u', 'task-1', '[1]', 0, now, 60_000);
      await store.debounceTake('t:deb:u', 'task-1', now + 1, 60_000);
      await store.fairPush('t:fair', 'k1', 'id1', 'p1');
      await store.fairPush('t:fair', 'k2', 'id2', 'p2');
      expect((await store.fairTake('t:fair', 'tok'))?.id).toBeDefined();
      const keys = await redis.keys('slots-check:*');
      const slotOf = async (key: string) => Number(await redis.call('CLUSTER', 'KEYSLOT', key));
      const byUnit = new Map<string, Set<number>>();
      for (const key of keys) {
        const unit = /\{([^}]*)\}/.exec(key)![1]!;
        const slots = byUnit.get(unit) ?? new Set();
        slots.add(await slotOf(key));
        byUnit.set(unit, slots);
      }
      // The debounce run and window, the fairness ring, payloads, taken and queues: one slot each.
      expect(byUnit.get('deb:t:deb:u')?.size).toBe(1);
      expect(byUnit.get('fair:t:fair')?.size).toBe(1);
      expect(keys.filter((k) => k.includes('{fair:t:fair}')).length).toBeGreaterThanOrEqual(4);
      for (const slots of byUnit.values()) expect(slots.size).toBe(1);
      const all = new Set([...byUnit.values()].flatMap((s) => [...s]));
      expect(all.size).toBeGreaterThan(3);
      for (const key of keys) await redis.del(key); // one slot per DEL
    } finally {
      await store.close();
      redis.disconnect();
    }
  });
});
