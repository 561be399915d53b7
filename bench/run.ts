/**
 * `npm run bench [-- sqlite|redis|amqp|postgres|memory|flow|dashboard ...]`: runs the chosen benchmarks (all by default)
 * and prints their figures and ratios. Suites whose broker is not reachable say so.
 */
import { runSqliteBench } from './sqlite/index.js';

type Suite = () => Promise<unknown>;

const suites: Record<string, Suite> = {
  sqlite: () => runSqliteBench(),
  redis: async () => (await import('./redis/index.js')).runRedisBench(),
  amqp: async () => (await import('./amqp/index.js')).runAmqpBench(),
  dashboard: async () => (await import('./dashboard.js')).runDashboardBench(),
  memory: async () => (await import('./memory/index.js')).runMemoryBench(),
  flow: async () => (await import('./flow/index.js')).runFlowBench(),
  postgres: async () => (await import('./postgres/index.js')).runPostgresBench(),
  canvas: async () => (await import('./canvas/index.js')).runCanvasBench(),
};

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(suites);
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
