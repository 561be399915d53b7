/**
 * The command lines of the Redis benchmark's worker processes: a Celeriac worker through
 * the built CLI, or the BullMQ or bee-queue worker script. `startChild` (bench/support.ts)
 * runs them.
 */
import path from 'node:path';
import { ROOT, workerCommand } from '../support.js';

export { startChild, type BenchChild } from '../support.js';

export function celeriacWorkerArgs(concurrency: number): string[] {
  return workerCommand('bench/bench-app.mjs', ['-c', String(concurrency)]);
}

export function bullmqWorkerArgs(): string[] {
  return ['--import', 'tsx', path.join(ROOT, 'bench/redis/bullmq-worker.ts')];
}

export function beeWorkerArgs(): string[] {
  return ['--import', 'tsx', path.join(ROOT, 'bench/redis/bee-worker.ts')];
}
