/**
 * The figures the Redis benchmark measures for each contender, and how it prints them:
 * side by side with Celeriac's ratio to each peer, then each goal of issue 16 beside the
 * figure it is judged on. Pure formatting: must never talk to Redis, and never hard-codes
 * a figure (only the goals).
 */
import { against, fmt } from '../support.js';

export interface QueueFigures {
  /** Awaited enqueues per second, one at a time. */
  enqueueSequential: number;
  /** CPU the sending process spent per awaited enqueue, µs (user + system, all its threads). */
  enqueueSequentialCpuUs?: number;
  /** Enqueues per second in batches of 1,000. */
  enqueueBulk: number;
  /** CPU the sending process spent per message of bulk enqueue, µs. */
  enqueueBulkCpuUs?: number;
  /** No-op tasks per second through one worker process at concurrency 100, results kept. */
  throughputC100?: number;
  /** The same with results dropped (ignoreResult / removeOnComplete / removeOnSuccess). */
  throughputC100NoResults?: number;
  /** Concurrency 1 and 10 (BENCH_FULL=1 only). */
  throughputC1?: number;
  throughputC10?: number;
  /** Enqueue-to-start latency at low load, ms. */
  latencyP50: number;
  latencyP99: number;
}

type Key = keyof QueueFigures;

export function rowsFor(tasks: number, samples: number, intervalMs: number) {
  const n = fmt(tasks);
  const rows: Array<{ key: Key; label: string; unit: '/s' | 'ms' | 'us' }> = [
    { key: 'enqueueSequential', label: 'enqueue, one awaited call at a time', unit: '/s' },
    {
      key: 'enqueueSequentialCpuUs',
      label: '  sender CPU per awaited enqueue (lower is better)',
      unit: 'us',
    },
    { key: 'enqueueBulk', label: 'enqueue, bulk in batches of 1,000', unit: '/s' },
    { key: 'enqueueBulkCpuUs', label: '  sender CPU per bulk-enqueued message', unit: 'us' },
    { key: 'throughputC1', label: `processing ${n} no-ops, c=1, results kept`, unit: '/s' },
    { key: 'throughputC10', label: `processing ${n} no-ops, c=10, results kept`, unit: '/s' },
    { key: 'throughputC100', label: `processing ${n} no-ops, c=100, results kept`, unit: '/s' },
    {
      key: 'throughputC100NoResults',
      label: `processing ${n} no-ops, c=100, results dropped`,
      unit: '/s',
    },
    {
      key: 'latencyP50',
      label: `enqueue-to-start p50, 1 per ${intervalMs} ms, ${fmt(samples)}`,
      unit: 'ms',
    },
    {
      key: 'latencyP99',
      label: `enqueue-to-start p99, 1 per ${intervalMs} ms, ${fmt(samples)}`,
      unit: 'ms',
    },
  ];
  return rows;
}

/**
 * Prints one line per figure: each contender's value, then Celeriac's ratio to each peer
 * ("x better": a rate's quotient, a latency's or a CPU cost's inverse quotient, so above 1
 * favours Celeriac).
 * `figures[0]` is Celeriac's.
 */
export function printComparison(
  names: readonly string[],
  figures: readonly QueueFigures[],
  rows: ReturnType<typeof rowsFor>,
): Record<string, number> {
  const ratios: Record<string, number> = {};
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const ours = figures[0]!;
  out(
    `  ${'measure'.padEnd(50)}${names.map((n) => n.padStart(12)).join('')}${names
      .slice(1)
      .map((n) => `vs ${n}`.padStart(14))
      .join('')}`,
  );
  for (const { key, label, unit } of rows) {
    if (ours[key] === undefined) continue;
    const show = (n: number | undefined) =>
      n === undefined
        ? '-'
        : unit === '/s'
          ? `${fmt(Math.round(n))}/s`
          : unit === 'us'
            ? `${n.toFixed(1)} µs`
            : `${n.toFixed(2)} ms`;
    const cells = figures.map((f) => show(f[key]).padStart(12)).join('');
    const ratioCells = figures
      .slice(1)
      .map((theirs, i) => {
        const a = ours[key]!;
        const b = theirs[key];
        if (b === undefined) return '-'.padStart(14);
        const ratio = unit === '/s' ? a / b : b / a;
        ratios[`${key}Vs${names[i + 1]}`] = ratio;
        return `${ratio.toFixed(2)}x`.padStart(14);
      })
      .join('');
    out(`  ${label.padEnd(50)}${cells}${ratioCells}`);
  }
  return ratios;
}

/**
 * Issue 16's goals, each beside the figure it is judged on. `figures` are Celeriac's,
 * BullMQ's and bee-queue's; `roundTrips` is one client's GET round trips a second (the goal's
 * bound), `clientRoundTrips` the same through one ioredis client (shown, no goal).
 */
export function printGoals(
  [ours, bull, bee]: readonly [QueueFigures, QueueFigures, QueueFigures],
  roundTrips: { perSec: number; how: string; byCommand?: Record<string, number> },
  clientRoundTrips: { perSec: number; how: string },
): void {
  const out = (label: string, text: string) =>
    process.stdout.write(`  ${label.padEnd(54)} ${text}\n`);
  process.stdout.write('  goals (issue 16), Celeriac:\n');
  const processed = (key: 'throughputC100' | 'throughputC100NoResults', peer: QueueFigures) =>
    (ours[key] ?? NaN) / (peer[key] ?? NaN);
  if (ours.throughputC100 !== undefined) {
    out(
      'processing c=100, results stored',
      `${against(processed('throughputC100', bull), 3, 'BullMQ')}; ${against(processed('throughputC100', bee), 2, 'bee-queue')}`,
    );
  }
  if (ours.throughputC100NoResults !== undefined) {
    out(
      'processing c=100, results off (peers remove theirs)',
      `${fmt(processed('throughputC100NoResults', bull))}x BullMQ, ${fmt(processed('throughputC100NoResults', bee))}x bee-queue (shown beside; no goal of its own)`,
    );
  }
  out('bulk enqueue', against(ours.enqueueBulk / bull.enqueueBulk, 3, "BullMQ's addBulk"));
  const perCommand = Object.entries(roundTrips.byCommand ?? {})
    .map(([name, perSec]) => `${Math.round((ours.enqueueSequential / perSec) * 100)}% of ${name}`)
    .join(', ');
  out(
    'awaited enqueue',
    `${against(ours.enqueueSequential / bee.enqueueSequential, 1, 'bee-queue')}; ${against(ours.enqueueSequential / roundTrips.perSec, 0.8, `of one client's round-trip bound (${roundTrips.how})`, { percent: true })}${perCommand ? ` (${perCommand})` : ''}; ${Math.round((ours.enqueueSequential / clientRoundTrips.perSec) * 100)}% of ${clientRoundTrips.how}`,
  );
  out(
    'enqueue-to-start latency p50, low load',
    against(ours.latencyP50 / bee.latencyP50, 1, "bee-queue's", { atMost: true }),
  );
  out(
    'enqueue-to-start latency p99, low load',
    against(ours.latencyP99 / bee.latencyP99, 1, "bee-queue's", { atMost: true }),
  );
}
