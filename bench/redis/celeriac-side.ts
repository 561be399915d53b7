/**
 * Celeriac's half of the Redis benchmark, through the public API and a real worker
 * process: `delay()` one at a time, `sendMany()` in batches, 20,000 pre-enqueued no-ops
 * through `celeriac worker` at concurrency 1/10/100, and enqueue-to-start latency read
 * back from the Redis result backend. Keys live under its own prefix; it deletes them.
 */
import { Celeriac } from '../../src/index.js';
import { nextLine, percentile, rate, wallClock } from '../support.js';
import { celeriacWorkerArgs, startChild } from './child.js';
import type { QueueFigures } from './figures.js';

export interface SideOptions {
  url: string;
  prefix: string;
  tasks: number;
  sequential: number;
  latencySamples: number;
}

export async function measureCeleriac(options: SideOptions): Promise<QueueFigures> {
  const { url, prefix, tasks } = options;
  const app = new Celeriac({ broker: url, backend: url, keyPrefix: prefix });
  const noop = app.signature<[], null>('bench.noop');
  const latency = app.signature<[sentAt: number], number>('bench.latency');
  const enqueueAll = async () => {
    for (let i = 0; i < tasks; i += 1000) {
      await app.sendMany(Array.from({ length: Math.min(1000, tasks - i) }, () => ({ task: noop, args: [] })));
    }
  };
  try {
    const broker = await app.broker();
    // Warm up (connections, JIT) before anything is timed, as for BullMQ.
    for (let i = 0; i < 1000; i++) await noop.delay();
    await broker.purge('celery');

    let start = wallClock();
    for (let i = 0; i < options.sequential; i++) await noop.delay();
    const enqueueSequential = rate(options.sequential, wallClock() - start);
    await broker.purge('celery');

    start = wallClock();
    await enqueueAll();
    const enqueueBulk = rate(tasks, wallClock() - start);
    await broker.purge('celery');

    const throughput: number[] = [];
    for (const concurrency of [1, 10, 100]) {
      await enqueueAll();
      const worker = await startChild(celeriacWorkerArgs(concurrency), {
        CELERIAC_BROKER_URL: url,
        CELERIAC_RESULT_BACKEND: url,
        BENCH_PREFIX: prefix,
        BENCH_COUNT: String(tasks),
      });
      const line = await nextLine(worker.lines, 'bench-done');
      await worker.stop();
      throughput.push(rate(tasks, Number(line.split(' ')[1])));
      await broker.purge('celery');
    }

    const worker = await startChild(celeriacWorkerArgs(10), { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, BENCH_PREFIX: prefix });
    const latencies: number[] = [];
    for (let i = 0; i < options.latencySamples + 20; i++) {
      const result = await latency.delay(wallClock());
      const ms = await result.get({ timeout: 10 });
      if (i >= 20) latencies.push(ms);
      // Let the worker go idle again between samples.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await worker.stop();
    latencies.sort((a, b) => a - b);
    return {
      enqueueSequential,
      enqueueBulk,
      throughputC1: throughput[0]!,
      throughputC10: throughput[1]!,
      throughputC100: throughput[2]!,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
    };
  } finally {
    await app.close();
  }
}
