/**
 * Memory benchmark (`npm run bench -- memory`): one worker process runs a million small
 * tasks (a memory:// broker and backend in the same process, results stored) and reports
 * its RSS and retained heap, after a GC, at 10k, 100k and 1M tasks. Flat means the 1M
 * figures sit near the 100k ones: nothing per task is kept. `BENCH_MEMORY_TASKS=100000`
 * stops earlier (milestones at a hundredth, a tenth and all of it).
 */
import path from 'node:path';
import { fmt, nextLine, rate, row, ROOT, startChild } from '../support.js';

export async function runMemoryBench(
  options: { tasks?: number } = {},
): Promise<Record<string, number>> {
  const tasks = options.tasks ?? Number(process.env.BENCH_MEMORY_TASKS ?? 1_000_000);
  const milestones = [tasks / 100, tasks / 10, tasks].map(Math.round);
  process.stdout.write(
    `\nMemory (one worker, memory:// broker and backend, ${fmt(tasks)} small tasks)\n`,
  );
  const child = await startChild(['--expose-gc', path.join(ROOT, 'bench/memory/child.mjs')], {
    BENCH_MILESTONES: milestones.join(','),
  });
  const figures: Record<string, number> = {};
  try {
    for (const count of milestones) {
      const line = await nextLine(child.lines, 'bench-rss');
      const [, , rss = '0', heap = '0'] = line.split(' ');
      figures[`rssMiB${count}`] = Number(rss) / 2 ** 20;
      figures[`heapMiB${count}`] = Number(heap) / 2 ** 20;
      row(
        `RSS after ${fmt(count)} tasks (heap used after GC)`,
        `${figures[`rssMiB${count}`]?.toFixed(1)} MiB (${figures[`heapMiB${count}`]?.toFixed(1)} MiB)`,
      );
    }
    const done = await nextLine(child.lines, 'bench-done');
    figures.throughput = rate(tasks, Number(done.split(' ')[1]));
    const [, mid, end] = milestones;
    figures.rssGrowth = (figures[`rssMiB${end}`] ?? 0) - (figures[`rssMiB${mid}`] ?? 0);
    row(
      `RSS growth from ${fmt(mid ?? 0)} to ${fmt(end ?? 0)} tasks`,
      `${figures.rssGrowth.toFixed(1)} MiB`,
      `(${fmt(figures.throughput)} tasks/s overall)`,
    );
  } finally {
    await child.stop();
  }
  return figures;
}
