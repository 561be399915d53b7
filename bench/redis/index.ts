/**
 * `npm run bench -- redis`: Celeriac against BullMQ on the same Redis in one run, through
 * each one's public API and one worker process each. Every measure runs for both sides
 * back to back, in alternating order, `rounds` times; the best round of each side counts,
 * so a burst of load from elsewhere on the machine does not decide a ratio. Both sides
 * work under their own key prefixes and their keys are deleted afterwards; the benchmark
 * must never flush a database.
 */
import { Redis } from 'ioredis';
import { fmt, percentile } from '../support.js';
import { BullmqSide } from './bullmq-side.js';
import { CeleriacSide } from './celeriac-side.js';
import type { Contender } from './contender.js';
import { printComparison, type QueueFigures } from './figures.js';
import { brokerLayerRate, workerCeiling } from './reference-figures.js';

export interface RedisBenchOptions {
  /** @default CELERIAC_BENCH_REDIS_URL or redis://127.0.0.1:6379/0 */
  url?: string;
  /** Pre-enqueued no-ops per throughput run. @default 20 000 */
  tasks?: number;
  /** Awaited enqueues timed one at a time. @default 5 000 */
  sequential?: number;
  /** Latency samples. @default 300 */
  latencySamples?: number;
  /** Rounds per measure; the best of each side counts. @default 3 */
  rounds?: number;
}

export interface RedisBenchResult {
  celeriac: QueueFigures;
  bullmq: QueueFigures;
  ratios: Record<string, number>;
  /** Celeriac-only figures that show where the time goes. */
  reference: Record<string, number>;
}

export async function runRedisBench(
  options: RedisBenchOptions = {},
): Promise<RedisBenchResult | undefined> {
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
      `\nRedis (${url}): not reachable (${(error as Error).message}); skipped.\n`,
    );
    return undefined;
  }
  const tasks = options.tasks ?? 20_000;
  const sequential = options.sequential ?? 5_000;
  const samples = options.latencySamples ?? 300;
  const rounds = options.rounds ?? Number(process.env.CELERIAC_BENCH_ROUNDS ?? 3);
  const run = `${process.pid}-${Date.now()}`;
  const ourPrefix = `celeriac-bench:${run}:`;
  const theirPrefix = `bullmq-bench-${run}`;
  const sides: [Contender, Contender] = [
    new CeleriacSide(url, ourPrefix),
    new BullmqSide(url, theirPrefix),
  ];
  process.stdout.write(
    `\nRedis (${url}): Celeriac vs BullMQ, same Redis, one worker process each, best of ${rounds} interleaved rounds\n`,
  );
  try {
    for (const side of sides) await side.setup();
    /** Runs one measure for both sides, alternating who goes first; keeps each side's best. */
    const duel = async (
      measure: (side: Contender) => Promise<number>,
      better: (a: number, b: number) => number,
    ) => {
      const best: [number | undefined, number | undefined] = [undefined, undefined];
      for (let round = 0; round < rounds; round++) {
        for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
          const value = await measure(sides[index]!);
          best[index] = best[index] === undefined ? value : better(best[index], value);
        }
      }
      return best as [number, number];
    };
    const rates = (measure: (side: Contender) => Promise<number>) => duel(measure, Math.max);
    const [seqOurs, seqTheirs] = await rates((side) => side.enqueueSequential(sequential));
    const [bulkOurs, bulkTheirs] = await rates((side) => side.enqueueBulk(tasks));
    const [c1Ours, c1Theirs] = await rates((side) => side.throughput(tasks, 1));
    const [c10Ours, c10Theirs] = await rates((side) => side.throughput(tasks, 10));
    const [c100Ours, c100Theirs] = await rates((side) => side.throughput(tasks, 100));
    const p50: [number, number] = [Infinity, Infinity];
    const p99: [number, number] = [Infinity, Infinity];
    for (let round = 0; round < rounds; round++) {
      for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const latencies = await sides[index]!.latency(samples);
        p50[index] = Math.min(p50[index]!, percentile(latencies, 50));
        p99[index] = Math.min(p99[index]!, percentile(latencies, 99));
      }
    }
    const figures = (
      i: 0 | 1,
      seq: number,
      bulk: number,
      c1: number,
      c10: number,
      c100: number,
    ): QueueFigures => ({
      enqueueSequential: seq,
      enqueueBulk: bulk,
      throughputC1: c1,
      throughputC10: c10,
      throughputC100: c100,
      latencyP50: p50[i],
      latencyP99: p99[i],
    });
    const celeriac = figures(0, seqOurs, bulkOurs, c1Ours, c10Ours, c100Ours);
    const bullmq = figures(1, seqTheirs, bulkTheirs, c1Theirs, c10Theirs, c100Theirs);
    const ratios = printComparison(celeriac, bullmq);
    const reference = {
      brokerLayerPrefetch40: await brokerLayerRate(url, `${ourPrefix}layer:`, tasks, 40),
      brokerLayerPrefetch400: await brokerLayerRate(url, `${ourPrefix}layer:`, tasks, 400),
      workerCeilingC1: await workerCeiling(tasks, 1),
      workerCeilingC100: await workerCeiling(tasks, 100),
    };
    const out = (label: string, value: number) =>
      process.stdout.write(`  ${label.padEnd(76)} ${`${fmt(value)}/s`.padStart(12)}\n`);
    process.stdout.write('  for reference, Celeriac alone:\n');
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
    return { celeriac, bullmq, ratios, reference };
  } finally {
    for (const side of sides) await side.teardown().catch(() => undefined);
    for (const prefix of [ourPrefix, theirPrefix]) await deletePrefix(probe, prefix);
    probe.disconnect();
  }
}

async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.unlink(...keys);
  } while (cursor !== '0');
}
