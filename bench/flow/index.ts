/**
 * `npm run bench -- flow`: what flow control costs, on Redis (broker and backend), one
 * in-process worker, in one run: no-op tasks with no limit, with a per-key concurrency
 * limit of 1 over 1,000 keys, and with a global rate limit set far above the machine's
 * rate (so every task pays the store's take, none waits). Each measure runs `rounds`
 * times, alternating, and the best round counts. Only the ratios to the no-limit figure of
 * the same run mean anything on a shared machine. BullMQ's free version has no group or
 * per-key limiter to put beside these (its global `limiter` is per queue).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Celeriac, Worker, createLineLogger, type TaskOptions } from '../../src/index.js';
import { fmt, rate, row, wallClock } from '../support.js';

type Case = 'none' | 'perKey' | 'globalRate';

const OPTIONS: Record<Case, TaskOptions<[number], null>> = {
  none: {},
  perKey: { concurrency: { limit: 1, key: (i) => String(i % 1000) } },
  globalRate: { rateLimit: { rate: 1_000_000, burst: 1000 } },
};

async function measure(url: string, kind: Case, tasks: number): Promise<number> {
  const keyPrefix = `celeriac-bench:flow-${randomUUID().slice(0, 8)}:`;
  const app = new Celeriac({ broker: url, backend: url, keyPrefix });
  let done = 0;
  let finished: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const task = app.task(
    'bench.flow',
    (_i: number) => {
      if (++done === tasks) finished();
      return null;
    },
    { ...OPTIONS[kind], ignoreResult: true },
  );
  const calls = Array.from({ length: tasks }, (_, i) => ({ task, args: [i] }));
  for (let i = 0; i < calls.length; i += 1000) await app.sendMany(calls.slice(i, i + 1000));
  const worker = new Worker(app, { concurrency: 50, logger: createLineLogger({ level: 'warn' }) });
  const start = wallClock();
  await worker.start();
  await all;
  const elapsed = wallClock() - start;
  await worker.stop({ timeout: 5 });
  await app.close();
  await deletePrefix(url, keyPrefix);
  return rate(tasks, elapsed);
}

async function deletePrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

export async function runFlowBench(
  options: { url?: string; tasks?: number; rounds?: number } = {},
): Promise<Record<Case, number> | undefined> {
  const url = options.url ?? process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await probe.connect();
  } catch (error) {
    process.stdout.write(
      `\nFlow (${url}): not reachable (${(error as Error).message}); skipped.\n`,
    );
    return undefined;
  } finally {
    probe.disconnect();
  }
  const tasks = options.tasks ?? 10_000;
  const rounds = options.rounds ?? Number(process.env.CELERIAC_BENCH_ROUNDS ?? 3);
  const best: Record<Case, number> = { none: 0, perKey: 0, globalRate: 0 };
  for (let round = 0; round < rounds; round++)
    for (const kind of Object.keys(best) as Case[])
      best[kind] = Math.max(best[kind], await measure(url, kind, tasks));
  process.stdout.write(
    `\nFlow control on Redis, one worker (concurrency 50), ${fmt(tasks)} no-op tasks, best of ${rounds}:\n`,
  );
  row('no limit', `${fmt(best.none)} tasks/s`);
  row(
    'per-key concurrency 1, 1,000 keys',
    `${fmt(best.perKey)} tasks/s`,
    `${(best.perKey / best.none).toFixed(2)}x no limit`,
  );
  row(
    'global rate limit above the machine',
    `${fmt(best.globalRate)} tasks/s`,
    `${(best.globalRate / best.none).toFixed(2)}x no limit`,
  );
  return best;
}
