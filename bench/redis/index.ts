/**
 * `npm run bench -- redis`: Celeriac against BullMQ and bee-queue on the same Redis in one
 * run, through each one's public API and one worker process each. Every measure runs for
 * every side back to back, in rotating order, `rounds` times, and the median of each
 * side's rounds counts, so a burst of load from elsewhere on the machine does not decide a
 * ratio. One client's round-trip bound (redis-benchmark -c 1) is measured in the same
 * rounds. Then issue 16's goals beside their figures, Celeriac-only reference figures, and
 * the scale figures (bench/redis/scale.ts). Each side works under its own key prefix and
 * its keys are deleted afterwards; the benchmark must never flush a database.
 *
 * Sizes: BENCH_TASKS (no-ops per processing run, 20,000), BENCH_SEQUENTIAL (awaited
 * enqueues, 5,000), BENCH_LATENCY_SAMPLES (2,000, one every 5 ms), BENCH_ROUNDS (3);
 * BENCH_FULL=1 adds concurrency 1 and 10 and a 1M-task queue depth. BENCH_REDIS_ONLY=enqueue
 * runs only the enqueue and latency measures (with the bounds and their goals).
 */
import { deletePrefix, openBenchRedis } from './admin.js';
import { envCount, fmt, FULL, median, percentile } from '../support.js';
import { BeeSide } from './bee-side.js';
import { BullmqSide } from './bullmq-side.js';
import { CeleriacSide } from './celeriac-side.js';
import type { Contender } from './contender.js';
import { printComparison, printGoals, rowsFor, type QueueFigures } from './figures.js';
import { brokerLayerRate, workerCeiling } from './reference-figures.js';
import { measureClientRoundTrips, measureRoundTrips, type RoundTrips } from './round-trips.js';
import { runRedisScale, type ScaleFigures } from './scale.js';

export interface RedisBenchOptions {
  /** @default CELERIAC_BENCH_REDIS_URL or redis://127.0.0.1:6379/0 */
  url?: string;
  /** Pre-enqueued no-ops per processing run. @default BENCH_TASKS or 20 000 */
  tasks?: number;
  /** Awaited enqueues timed one at a time. @default BENCH_SEQUENTIAL or 5 000 */
  sequential?: number;
  /** Latency probes per side and round. @default BENCH_LATENCY_SAMPLES or 2 000 */
  latencySamples?: number;
  /** Milliseconds between latency probes. @default 5 */
  latencyIntervalMs?: number;
  /** Rounds per measure; each side's median counts. @default BENCH_ROUNDS or 3 */
  rounds?: number;
  /** Queue depths for the scale figures. @default 10k and 100k, plus 1M with BENCH_FULL=1 */
  depths?: number[];
  /** Only the enqueue and latency measures (no processing, reference or scale). @default BENCH_REDIS_ONLY === 'enqueue' */
  enqueueOnly?: boolean;
}

export interface RedisBenchResult {
  /** Celeriac's, BullMQ's and bee-queue's figures, in that order. */
  figures: [QueueFigures, QueueFigures, QueueFigures];
  roundTrips: RoundTrips;
  /** The same bound through one ioredis client. */
  clientRoundTrips: RoundTrips;
  ratios: Record<string, number>;
  /** Celeriac-only figures that show where the time goes (not with `enqueueOnly`). */
  reference?: Record<string, number>;
  scale?: ScaleFigures;
}

export async function runRedisBench(
  options: RedisBenchOptions = {},
): Promise<RedisBenchResult | undefined> {
  const url = options.url ?? process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const probe = await openBenchRedis(url, 'Redis');
  if (!probe) return undefined;
  const tasks = options.tasks ?? envCount('BENCH_TASKS', 20_000);
  const sequential = options.sequential ?? envCount('BENCH_SEQUENTIAL', 5_000);
  const samples = options.latencySamples ?? envCount('BENCH_LATENCY_SAMPLES', 2_000);
  const intervalMs = options.latencyIntervalMs ?? 5;
  const rounds = options.rounds ?? envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 3));
  const enqueueOnly = options.enqueueOnly ?? process.env.BENCH_REDIS_ONLY === 'enqueue';
  const depths = options.depths ?? [
    ...new Set(
      (FULL ? [10_000, 100_000, 1_000_000] : [10_000, 100_000]).map((d) =>
        Math.min(d, envCount('BENCH_MAX_DEPTH', d)),
      ),
    ),
  ];
  const run = `${process.pid}-${Date.now()}`;
  const ourPrefix = `celeriac-bench:${run}:`;
  const bullPrefix = `bullmq-bench-${run}`;
  const beePrefix = `bee-bench-${run}`;
  const celeriac = new CeleriacSide(url, ourPrefix);
  const sides: Contender[] = [
    celeriac,
    new BullmqSide(url, bullPrefix),
    new BeeSide(url, beePrefix),
  ];
  const names = sides.map((side) => side.name);
  process.stdout.write(
    `\nRedis (${url}): ${names.join(' vs ')}, same Redis, one worker process each, medians of ${rounds} interleaved rounds\n` +
      `  (Celeriac stores results; BullMQ and bee-queue keep completed jobs, their default, unless "results dropped")\n`,
  );
  try {
    for (const side of sides) await side.setup();
    /** Runs one measure for every side, rotating who goes first; each side's values, round by round. */
    const rotate = async <T>(measure: (side: Contender) => Promise<T>): Promise<T[][]> => {
      const values: T[][] = sides.map(() => []);
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < sides.length; k++) {
          const index = (k + round) % sides.length;
          values[index]!.push(await measure(sides[index]!));
        }
      }
      return values;
    };
    const medians = async (measure: (side: Contender) => Promise<number>) =>
      (await rotate(measure)).map(median);

    const roundTripSamples: RoundTrips[] = [];
    const clientSamples: RoundTrips[] = [];
    /** A measure's rate, and the CPU this (the client's) process spent on it, µs per message. */
    const withCpu = async (count: number, measure: () => Promise<number>) => {
      const before = process.cpuUsage();
      const perSec = await measure();
      const spent = process.cpuUsage(before);
      return { perSec, cpuUs: (spent.user + spent.system) / count };
    };
    const sequentialRounds = await rotate(async (side) => {
      // The bounds are measured in the same rounds, just before Celeriac's awaited enqueues.
      if (side === celeriac) {
        roundTripSamples.push(await measureRoundTrips(url));
        clientSamples.push(await measureClientRoundTrips(url));
      }
      return withCpu(sequential, () => side.enqueueSequential(sequential));
    });
    // redis-benchmark's SET wrote its one key outside every prefix: it goes.
    await probe.del('key:__rand_int__');
    const middle = (samples: RoundTrips[]): RoundTrips => {
      const byCommand: Record<string, number> = {};
      for (const name of Object.keys(samples[0]?.byCommand ?? {}))
        byCommand[name] = median(samples.map((r) => r.byCommand?.[name] ?? NaN));
      return {
        perSec: median(samples.map((r) => r.perSec)),
        how: samples[0]?.how ?? 'not measured',
        ...(Object.keys(byCommand).length ? { byCommand } : {}),
      };
    };
    const roundTrips = middle(roundTripSamples);
    const clientRoundTrips = middle(clientSamples);
    const bulkRounds = await rotate((side) => withCpu(tasks, () => side.enqueueBulk(tasks)));
    const rates = (values: Array<Array<{ perSec: number }>>) =>
      values.map((side) => median(side.map((v) => v.perSec)));
    const cpus = (values: Array<Array<{ cpuUs: number }>>) =>
      values.map((side) => median(side.map((v) => v.cpuUs)));
    const sequentialRates = rates(sequentialRounds);
    const bulkRates = rates(bulkRounds);
    const sequentialCpu = cpus(sequentialRounds);
    const bulkCpu = cpus(bulkRounds);
    const c100 = enqueueOnly ? undefined : await medians((side) => side.throughput(tasks, 100));
    const c100Dropped = enqueueOnly
      ? undefined
      : await medians((side) => side.throughput(tasks, 100, { results: false }));
    const c1 =
      FULL && !enqueueOnly ? await medians((side) => side.throughput(tasks, 1)) : undefined;
    const c10 =
      FULL && !enqueueOnly ? await medians((side) => side.throughput(tasks, 10)) : undefined;
    const latencyRounds = await rotate((side) => side.latency(samples, intervalMs));
    const figures = sides.map((_, i): QueueFigures => ({
      enqueueSequential: sequentialRates[i]!,
      enqueueSequentialCpuUs: sequentialCpu[i]!,
      enqueueBulk: bulkRates[i]!,
      enqueueBulkCpuUs: bulkCpu[i]!,
      ...(c100 ? { throughputC100: c100[i]! } : {}),
      ...(c100Dropped ? { throughputC100NoResults: c100Dropped[i]! } : {}),
      ...(c1 ? { throughputC1: c1[i]! } : {}),
      ...(c10 ? { throughputC10: c10[i]! } : {}),
      latencyP50: median(latencyRounds[i]!.map((sorted) => percentile(sorted, 50))),
      latencyP99: median(latencyRounds[i]!.map((sorted) => percentile(sorted, 99))),
    })) as [QueueFigures, QueueFigures, QueueFigures];
    const each = Object.entries(roundTrips.byCommand ?? {})
      .map(([name, perSec]) => `${name} ${fmt(Math.round(perSec))}/s`)
      .join(', ');
    process.stdout.write(
      `  one client's round-trip bound: ${fmt(Math.round(roundTrips.perSec))}/s (${roundTrips.how}${each ? `: ${each}` : ''}); ` +
        `${fmt(Math.round(clientRoundTrips.perSec))}/s (${clientRoundTrips.how})\n`,
    );
    const ratios = printComparison(names, figures, rowsFor(tasks, samples, intervalMs));
    printGoals(figures, roundTrips, clientRoundTrips);
    if (enqueueOnly) return { figures, roundTrips, clientRoundTrips, ratios };

    const reference = {
      brokerLayerPrefetch40: await brokerLayerRate(url, `${ourPrefix}layer:`, tasks, 40),
      brokerLayerPrefetch400: await brokerLayerRate(url, `${ourPrefix}layer:`, tasks, 400),
      workerCeilingC1: await workerCeiling(tasks, 1),
      workerCeilingC100: await workerCeiling(tasks, 100),
    };
    const out = (label: string, value: number) =>
      process.stdout.write(`  ${label.padEnd(76)} ${`${fmt(value)}/s`.padStart(12)}\n`);
    process.stdout.write('  for reference, Celeriac alone (no peer counterpart, no goal):\n');
    out(
      'Redis broker alone: publish, claim, ack (prefetch 40), no worker',
      reference.brokerLayerPrefetch40,
    );
    out(
      'Redis broker alone: publish, claim, ack (prefetch 400), no worker',
      reference.brokerLayerPrefetch400,
    );
    out(
      'worker pipeline with no broker/backend I/O, concurrency 1 (a ceiling)',
      reference.workerCeilingC1,
    );
    out(
      'worker pipeline with no broker/backend I/O, concurrency 100 (a ceiling)',
      reference.workerCeilingC100,
    );
    const scale = await runRedisScale(
      celeriac,
      { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, BENCH_PREFIX: ourPrefix },
      tasks,
      rounds,
      depths,
    );
    return { figures, roundTrips, clientRoundTrips, ratios, reference, scale };
  } finally {
    for (const side of sides) await side.teardown().catch(() => undefined);
    for (const prefix of [ourPrefix, bullPrefix, beePrefix]) await deletePrefix(probe, prefix);
    probe.disconnect();
  }
}
