/**
 * `npm run bench [-- sqlite|redis|amqp|postgres|memory|flow|dashboard|history|scale ...]`: runs
 * the chosen benchmarks and prints their figures and ratios. With none named it runs the
 * comparisons (sqlite, redis, amqp, flow, postgres); the long single-product suites (memory: a
 * million tasks; dashboard: 100,000 stored tasks twice; history: taskHistory off and on; scale:
 * the Redis bench's scale figures alone) run when named or with BENCH_FULL=1, so
 * the default run stays well under 15 minutes. Suites whose broker is not reachable say so.
 */
import { FULL } from './support.js';
import { runSqliteBench } from './sqlite/index.js';

type Suite = () => Promise<unknown>;

const suites: Record<string, Suite> = {
  sqlite: () => runSqliteBench(),
  redis: async () => (await import('./redis/index.js')).runRedisBench(),
  amqp: async () => (await import('./amqp/index.js')).runAmqpBench(),
  dashboard: async () => (await import('./dashboard.js')).runDashboardBench(),
  history: async () => (await import('./history.js')).runHistoryBench(),
  memory: async () => (await import('./memory/index.js')).runMemoryBench(),
  flow: async () => (await import('./flow/index.js')).runFlowBench(),
  postgres: async () => (await import('./postgres/index.js')).runPostgresBench(),
  canvas: async () => (await import('./canvas/index.js')).runCanvasBench(),
  scale: async () => (await import('./scale.js')).runScaleBench(),
};

/** Left out of a run that names no suite, unless BENCH_FULL=1. */
const LONG = ['memory', 'dashboard', 'history', 'scale'];

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const names = wanted.length
  ? wanted
  : Object.keys(suites).filter((name) => FULL || !LONG.includes(name));
if (!wanted.length && !FULL)
  process.stdout.write(
    `(${LONG.join(' and ')} run when named, e.g. npm run bench -- memory, or with BENCH_FULL=1)\n`,
  );
for (const name of names) {
  const suite = suites[name];
  if (!suite) {
    process.stderr.write(
      `Unknown bench "${name}"; choose from ${Object.keys(suites).join(', ')}\n`,
    );
    process.exitCode = 2;
    continue;
  }
  try {
    await suite();
  } catch (error) {
    process.stderr.write(`bench ${name} failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
