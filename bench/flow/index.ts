/**
 * `npm run bench -- flow` (issue 13): what flow control costs, on one Redis (broker and
 * backend), through one worker process at concurrency 100 from the built package, in one
 * run: no-op tasks with no limit, with a per-key concurrency limit of 1 over 1,000 keys,
 * and with a global rate limit set far above the machine's rate (every task pays the
 * store's take; none waits). BullMQ runs beside them where its free version has the
 * feature: no limit, and its Worker `limiter` (a global rate limit); per-key limits are
 * groups, BullMQ Pro only. Rounds rotate every (contender, limit) pair; medians count.
 * Each contender works under its own key prefix, deleted afterwards.
 * Then fairness at a backlog (fairness.ts): tenant B's one task behind tenant A's
 * BENCH_FAIR_BACKLOG (1,000,000), counted in takes.
 * Sizes: BENCH_TASKS (10,000 here), BENCH_ROUNDS (3).
 * BENCH_BASE=<built checkout of an older commit> adds that build's worker on the same bench
 * app, no limit only, in the same rounds (bench/base-build.ts): the "no slower than before"
 * check, by rate and by the worker's CPU per task.
 */
import { deletePrefix, openBenchRedis } from '../redis/admin.js';
import { envCount, fmt, median } from '../support.js';
import { BullmqSide } from '../redis/bullmq-side.js';
import { CeleriacSide } from '../redis/celeriac-side.js';
import type { Contender, FlowLimit } from '../redis/contender.js';
import { baseBuildFromEnv } from '../base-build.js';

type Case = FlowLimit | 'none';

const CASES: Array<{ key: Case; label: string }> = [
  { key: 'none', label: 'no limit' },
  { key: 'perKey', label: 'per-key concurrency 1, 1,000 keys' },
  { key: 'globalRate', label: 'global rate limit above the machine (1M/s)' },
];

export type FlowFigures = Record<string, Partial<Record<Case, number>>>;

export async function runFlowBench(
  options: { url?: string; tasks?: number; rounds?: number } = {},
): Promise<FlowFigures | undefined> {
  const url = options.url ?? process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = await openBenchRedis(url, 'Flow');
  if (!probe) return undefined;
  const tasks = options.tasks ?? envCount('BENCH_TASKS', 10_000);
  const rounds = options.rounds ?? envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 3));
  const run = `${process.pid}-${Date.now()}`;
  const prefixes = [`celeriac-bench:flow-${run}:`, `bullmq-bench-flow-${run}`];
  const ours = new CeleriacSide(url, prefixes[0]!);
  const sides: Contender[] = [ours, new BullmqSide(url, prefixes[1]!)];
  const base = baseBuildFromEnv();
  const baseSide = base
    ? new CeleriacSide(url, `celeriac-bench:flow-base-${run}:`, {
        name: 'Celeriac base',
        limits: [],
        workerArgs: (concurrency) => base.workerArgs(['-c', String(concurrency)]),
      })
    : undefined;
  if (baseSide) {
    sides.push(baseSide);
    prefixes.push(`celeriac-bench:flow-base-${run}:`);
  }
  const cpu = new Map<CeleriacSide, number[]>([[ours, []]]);
  if (baseSide) cpu.set(baseSide, []);
  const pairs = sides.flatMap((side) =>
    CASES.filter(({ key }) => key === 'none' || side.limits.includes(key)).map(({ key }) => ({
      side,
      key,
    })),
  );
  const samples = new Map(pairs.map((pair) => [pair, [] as number[]]));
  try {
    for (const side of sides) await side.setup();
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pairs.length; k++) {
        const pair = pairs[(k + round) % pairs.length]!;
        const limit = pair.key === 'none' ? {} : { limit: pair.key };
        samples.get(pair)!.push(await pair.side.throughput(tasks, 100, limit));
        if (pair.key === 'none' && pair.side instanceof CeleriacSide)
          cpu.get(pair.side)?.push(pair.side.lastCpuPerTaskUs);
      }
    }
  } finally {
    for (const side of sides) await side.teardown().catch(() => undefined);
    for (const prefix of prefixes) await deletePrefix(probe, prefix);
    probe.disconnect();
    base?.dispose();
  }
  const figures: FlowFigures = {};
  for (const [{ side, key }, values] of samples) (figures[side.name] ??= {})[key] = median(values);
  const mine = figures.Celeriac ?? {};
  const theirs = figures.BullMQ ?? {};
  process.stdout.write(
    `\nFlow control on Redis (${url}), one worker process each at c=100, ${fmt(tasks)} no-ops, results kept, medians of ${rounds} interleaved rounds:\n`,
  );
  process.stdout.write(
    `  ${'measure'.padEnd(46)}${'Celeriac'.padStart(12)}${'vs no limit'.padStart(13)}${'BullMQ'.padStart(12)}  vs BullMQ\n`,
  );
  for (const { key, label } of CASES) {
    const value = mine[key] ?? NaN;
    const vsNone = key === 'none' ? '' : `${(value / (mine.none ?? NaN)).toFixed(2)}x`;
    const peer = theirs[key];
    const peerCell =
      peer === undefined
        ? `${'-'.padStart(12)}  none in BullMQ's free version (groups are BullMQ Pro)`
        : `${`${fmt(peer)}/s`.padStart(12)}  ${(value / peer).toFixed(2)}x` +
          (key === 'globalRate' ? ' (BullMQ Worker limiter {max: 1M, duration: 1 s})' : '');
    process.stdout.write(
      `  ${label.padEnd(46)}${`${fmt(value)}/s`.padStart(12)}${vsNone.padStart(13)}${peerCell}\n`,
    );
  }
  const oursCpu = median(cpu.get(ours) ?? []);
  process.stdout.write(
    `  worker CPU per no-limit task: ${oursCpu.toFixed(1)} µs (user + system, first start to last)\n`,
  );
  if (base && baseSide) {
    const baseRate = figures[baseSide.name]?.none ?? NaN;
    const baseCpu = median(cpu.get(baseSide) ?? []);
    process.stdout.write(
      `  no limit, base build ${base.dir}: ${fmt(baseRate)}/s, ${baseCpu.toFixed(1)} µs CPU/task;` +
        ` this build ${((mine.none ?? NaN) / baseRate).toFixed(2)}x its rate, ${(oursCpu / baseCpu).toFixed(2)}x its CPU per task\n`,
    );
  }
  process.stdout.write(
    '  goal (issue 13): "no limit" must not fall below its figure before flow control (BENCH_BASE=<built checkout of that commit> runs it beside, in the same rounds); each limit\'s cost is its "vs no limit"\n',
  );
  await (await import('./fairness.js')).runFairnessBench(url);
  return figures;
}
