/**
 * `npm run bench -- scale`: the scale figures of the Redis bench on their own (bench/redis/
 * scale.ts), Celeriac alone: 1, 2 and 4 worker processes on one Redis, and one worker
 * draining 10k, 100k (and with BENCH_FULL=1, 1M) queued tasks with its RSS and CPU per
 * task. Sizes: BENCH_TASKS (20,000 for the worker counts), BENCH_ROUNDS (3),
 * BENCH_MAX_DEPTH (caps the depths). Keys under its own prefix, deleted afterwards.
 */
import { envCount, FULL } from './support.js';
import { CeleriacSide } from './redis/celeriac-side.js';
import { deletePrefix, openBenchRedis } from './redis/admin.js';
import { runRedisScale, type ScaleFigures } from './redis/scale.js';

export async function runScaleBench(): Promise<ScaleFigures | undefined> {
  const url = process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = await openBenchRedis(url, 'Redis');
  if (!probe) return undefined;
  const tasks = envCount('BENCH_TASKS', 20_000);
  const rounds = envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 3));
  const depths = [
    ...new Set(
      (FULL ? [10_000, 100_000, 1_000_000] : [10_000, 100_000]).map((d) =>
        Math.min(d, envCount('BENCH_MAX_DEPTH', d)),
      ),
    ),
  ];
  const prefix = `celeriac-bench:scale-${process.pid}-${Date.now()}:`;
  const side = new CeleriacSide(url, prefix);
  process.stdout.write(`\nScale on one Redis (${url}), Celeriac alone\n`);
  try {
    await side.setup();
    return await runRedisScale(
      side,
      { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, BENCH_PREFIX: prefix },
      tasks,
      rounds,
      depths,
    );
  } finally {
    await side.teardown().catch(() => undefined);
    await deletePrefix(probe, prefix);
    probe.disconnect();
  }
}
