/**
 * `npm run bench -- redis`: Celeriac against BullMQ on the same Redis in one run, through
 * each one's public API and one worker process each, printing every figure and its ratio.
 * Both sides work under their own key prefixes and delete their keys afterwards; the
 * benchmark must never flush a database.
 */
import { Redis } from 'ioredis';
import { measureBullmq } from './bullmq-side.js';
import { measureCeleriac, type SideOptions } from './celeriac-side.js';
import { printComparison, type QueueFigures } from './figures.js';

export interface RedisBenchOptions {
  /** @default CELERIAC_BENCH_REDIS_URL or redis://127.0.0.1:6379/0 */
  url?: string;
  /** Pre-enqueued no-ops per throughput run. @default 20 000 */
  tasks?: number;
  /** Awaited enqueues timed one at a time. @default 5 000 */
  sequential?: number;
  /** Latency samples. @default 300 */
  latencySamples?: number;
}

export async function runRedisBench(
  options: RedisBenchOptions = {},
): Promise<{ celeriac: QueueFigures; bullmq: QueueFigures; ratios: Record<string, number> } | undefined> {
  const url = options.url ?? process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await probe.connect();
  } catch (error) {
    process.stdout.write(`\nRedis (${url}): not reachable (${(error as Error).message}); skipped.\n`);
    return undefined;
  }
  const run = `${process.pid}-${Date.now()}`;
  const side = (prefix: string): SideOptions => ({
    url,
    prefix,
    tasks: options.tasks ?? 20_000,
    sequential: options.sequential ?? 5_000,
    latencySamples: options.latencySamples ?? 300,
  });
  const ourPrefix = `celeriac-bench:${run}:`;
  const theirPrefix = `bullmq-bench-${run}`;
  process.stdout.write(`\nRedis (${url}): Celeriac vs BullMQ, same Redis, one worker process each\n`);
  try {
    const celeriac = await measureCeleriac(side(ourPrefix));
    const bullmq = await measureBullmq(side(theirPrefix));
    const ratios = printComparison(celeriac, bullmq);
    return { celeriac, bullmq, ratios };
  } finally {
    for (const prefix of [ourPrefix, theirPrefix]) await deletePrefix(probe, prefix);
    probe.disconnect();
  }
}

async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.del(...keys);
  } while (cursor !== '0');
}
