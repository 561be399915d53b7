/**
 * `npm run bench -- redis` scale figures, Celeriac alone on the same Redis: the processing
 * rate at 1, 2 and 4 worker processes (c=100 each; tasks sent once all are ready, timed
 * from the first task's start in any worker to the last one's end in any), and the rate
 * of one worker draining 10k, 100k (and with BENCH_FULL=1, 1M) pre-queued tasks with its
 * RSS when ready and when done. Flat is the goal for both rate and RSS as the queue grows.
 * Uses the CeleriacSide's prefix; the runner deletes its keys.
 */
import { fmt, median, rate } from '../support.js';
import type { CeleriacSide } from './celeriac-side.js';
import { celeriacWorkerArgs, startChild, type BenchChild } from './child.js';

export interface ScaleFigures {
  /** Tasks a second by worker processes (1, 2, 4). */
  byWorkers: Record<number, number>;
  /** By queued tasks: tasks a second and the worker's RSS (MiB) when ready and when done. */
  byDepth: Record<
    number,
    { perSec: number; rssStartMiB: number; rssEndMiB: number; cpuPerTask: number }
  >;
}

interface Progress {
  done: number;
  firstAt: number;
  lastAt: number;
  rss: number;
  /** The worker's CPU µs since its first task. */
  cpu: number;
}

/** Follows a worker's `bench-progress` lines; `onChange` runs after each. */
async function follow(child: BenchChild, into: Progress, onChange: () => void): Promise<void> {
  for await (const line of child.lines) {
    if (!line.startsWith('bench-progress ')) continue;
    const [, done, firstAt, lastAt, rss, cpu] = line.split(' ').map(Number);
    Object.assign(into, { done, firstAt, lastAt, rss, cpu });
    onChange();
  }
}

/** Starts `count` progress-reporting workers, runs `send`, waits until they ran `tasks` in all. */
async function runWorkers(
  side: CeleriacSide,
  env: Record<string, string>,
  count: number,
  tasks: number,
  send: () => Promise<void>,
): Promise<{ perSec: number; rssStart: number; rssEnd: number; cpu: number }> {
  const workers = await Promise.all(
    Array.from({ length: count }, () =>
      startChild(celeriacWorkerArgs(100), { ...env, BENCH_PROGRESS: '1' }),
    ),
  );
  try {
    const states = workers.map(() => ({ done: 0, firstAt: 0, lastAt: 0, rss: 0, cpu: 0 }));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const check = () => {
      if (states.reduce((sum, s) => sum + s.done, 0) >= tasks) finish();
    };
    const following = workers.map((worker, i) => follow(worker, states[i]!, check));
    await send();
    await Promise.race([finished, Promise.all(following)]);
    const busy = states.filter((s) => s.done > 0);
    if (busy.reduce((sum, s) => sum + s.done, 0) < tasks)
      throw new Error('a scale worker exited before the tasks ran');
    const start = Math.min(...busy.map((s) => s.firstAt));
    const end = Math.max(...busy.map((s) => s.lastAt));
    return {
      perSec: rate(tasks, end - start),
      rssStart: Number(workers[0]!.ready.split(' ')[1] ?? NaN),
      rssEnd: states[0]!.rss,
      cpu: states.reduce((sum, s) => sum + s.cpu, 0),
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await side.purge();
  }
}

export async function runRedisScale(
  side: CeleriacSide,
  env: Record<string, string>,
  tasks: number,
  rounds: number,
  depths: readonly number[],
): Promise<ScaleFigures> {
  const out = (label: string, value: string, note = '') =>
    process.stdout.write(`  ${label.padEnd(58)} ${value.padStart(12)}  ${note}\n`);
  process.stdout.write(
    `  scale, Celeriac alone (c=100 per worker process, results stored, medians of ${rounds}):\n`,
  );
  const counts = [1, 2, 4];
  const samples: Record<number, number[]> = { 1: [], 2: [], 4: [] };
  for (let round = 0; round < rounds; round++) {
    const order = counts.map((_, i) => counts[(i + round) % counts.length]!);
    for (const count of order) {
      const { perSec } = await runWorkers(side, env, count, tasks, () => side.enqueueAll(tasks));
      samples[count]!.push(perSec);
    }
  }
  const byWorkers: ScaleFigures['byWorkers'] = {};
  for (const count of counts) {
    byWorkers[count] = median(samples[count]!);
    out(
      `${fmt(tasks)} tasks, ${count} worker process${count > 1 ? 'es' : ''}, sent once ready`,
      `${fmt(byWorkers[count])}/s`,
      count > 1 ? `${(byWorkers[count] / byWorkers[1]!).toFixed(2)}x one worker` : '',
    );
  }
  const byDepth: ScaleFigures['byDepth'] = {};
  for (const depth of depths) {
    await side.enqueueAll(depth);
    const { perSec, rssStart, rssEnd, cpu } = await runWorkers(side, env, 1, depth, () =>
      Promise.resolve(),
    );
    const mib = (bytes: number) => bytes / 2 ** 20;
    const cpuPerTask = cpu / depth;
    byDepth[depth] = { perSec, rssStartMiB: mib(rssStart), rssEndMiB: mib(rssEnd), cpuPerTask };
    const first = byDepth[depths[0]!]!;
    out(
      `${fmt(depth)} tasks queued before one worker starts`,
      `${fmt(perSec)}/s`,
      `${depth === depths[0] ? '' : `${(perSec / first.perSec).toFixed(2)}x the ${fmt(depths[0]!)} rate (goal flat); `}` +
        `worker RSS ${fmt(Math.round(mib(rssStart)))} -> ${fmt(Math.round(mib(rssEnd)))} MiB, ${cpuPerTask.toFixed(1)} µs CPU/task`,
    );
  }
  return { byWorkers, byDepth };
}
