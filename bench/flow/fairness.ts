/**
 * Fairness at a large backlog, on the Redis flow store itself (what every worker's take
 * asks): tenant A queues BENCH_FAIR_BACKLOG tasks (1,000,000 by default), then tenant B
 * queues one; takes go on until B's task comes out. Round-robin means B's is out within
 * a couple of takes, however long A's backlog; the figure printed is that count, and the
 * time one take costs at that backlog.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisBackend } from '../../src/backends/redis/index.js';
import { envCount, fmt } from '../support.js';

export async function runFairnessBench(url: string): Promise<{ takes: number; takeMs: number }> {
  const backlog = envCount('BENCH_FAIR_BACKLOG', 1_000_000);
  const prefix = `celeriac-bench:fair-${process.pid}-${Date.now()}:`;
  const store = createRedisBackend(url, { keyPrefix: prefix }).flowStore();
  const cleaner = new Redis(url);
  const group = 'bench.fair:fair';
  try {
    await store.open();
    const started = Date.now();
    const CHUNK = 5_000;
    for (let sent = 0; sent < backlog; sent += CHUNK) {
      const pushes: Array<Promise<void>> = [];
      for (let i = sent; i < Math.min(backlog, sent + CHUNK); i++)
        pushes.push(store.fairPush(group, 'tenant-a', `a-${i}`, 'x'));
      await Promise.all(pushes);
    }
    const pushMs = Date.now() - started;
    await store.fairPush(group, 'tenant-b', 'b-0', 'x');
    let takes = 0;
    const takeStart = process.hrtime.bigint();
    for (;;) {
      takes++;
      const item = await store.fairTake(group, `token-${randomUUID()}`);
      if (!item || item.id === 'b-0' || takes > 1000) break;
    }
    const takeMs = Number(process.hrtime.bigint() - takeStart) / 1e6 / takes;
    process.stdout.write(
      `\nFairness on Redis: tenant A's backlog of ${fmt(backlog)} (queued in ${(pushMs / 1000).toFixed(1)} s), then tenant B's one task:\n` +
        `  B's task came out at take ${takes} (goal: within a few), ${takeMs.toFixed(2)} ms a take\n`,
    );
    return { takes, takeMs };
  } finally {
    await store.close();
    let cursor = '0';
    do {
      const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) await cleaner.unlink(key); // one slot each (cluster-safe)
    } while (cursor !== '0');
    cleaner.disconnect();
  }
}
