/**
 * The figures the Redis benchmark measures for each contender, and how it prints them
 * side by side with their ratios. Pure formatting: must never talk to Redis.
 */
import { fmt } from '../support.js';

export interface QueueFigures {
  /** Awaited enqueues per second, one at a time. */
  enqueueSequential: number;
  /** Enqueues per second in batches of 1,000. */
  enqueueBulk: number;
  /** No-op tasks per second through one worker process, by concurrency. */
  throughputC1: number;
  throughputC10: number;
  throughputC100: number;
  /** Enqueue-to-start latency on an idle worker, ms. */
  latencyP50: number;
  latencyP99: number;
}

export const ROWS: Array<{ key: keyof QueueFigures; label: string; unit: '/s' | 'ms' }> = [
  { key: 'enqueueSequential', label: 'enqueue, one awaited call at a time', unit: '/s' },
  { key: 'enqueueBulk', label: 'enqueue, bulk in batches of 1,000', unit: '/s' },
  { key: 'throughputC1', label: 'no-op tasks, one worker process, concurrency 1', unit: '/s' },
  { key: 'throughputC10', label: 'no-op tasks, one worker process, concurrency 10', unit: '/s' },
  { key: 'throughputC100', label: 'no-op tasks, one worker process, concurrency 100', unit: '/s' },
  { key: 'latencyP50', label: 'enqueue-to-start latency, idle worker, p50', unit: 'ms' },
  { key: 'latencyP99', label: 'enqueue-to-start latency, idle worker, p99', unit: 'ms' },
];

/** Prints one line per figure: Celeriac, BullMQ, and how many times better Celeriac is. */
export function printComparison(ours: QueueFigures, theirs: QueueFigures): Record<string, number> {
  const ratios: Record<string, number> = {};
  const out = (text: string) => process.stdout.write(`${text}\n`);
  out(
    `  ${'measure'.padEnd(50)} ${'Celeriac'.padStart(12)} ${'BullMQ'.padStart(12)} ${'ratio'.padStart(8)}`,
  );
  for (const { key, label, unit } of ROWS) {
    // Rates: higher is better; latencies: lower is better. A ratio above 1 favours Celeriac.
    const ratio = unit === '/s' ? ours[key] / theirs[key] : theirs[key] / ours[key];
    ratios[key] = ratio;
    const show = (n: number) => (unit === '/s' ? `${fmt(Math.round(n))}/s` : `${n.toFixed(2)} ms`);
    out(
      `  ${label.padEnd(50)} ${show(ours[key]).padStart(12)} ${show(theirs[key]).padStart(12)} ${`${ratio.toFixed(2)}x`.padStart(8)}`,
    );
  }
  return ratios;
}
