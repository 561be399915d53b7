/**
 * Celeriac's side of the Redis benchmark, through the public API and a real worker
 * process: `delay()` one at a time, `sendMany()` in batches, pre-enqueued no-ops through
 * `celeriac worker`, and enqueue-to-start latency read back from the Redis result backend.
 * Keys live under its own prefix; the runner deletes them.
 */
import { Celeriac } from '../../src/index.js';
import type { TaskRef } from '../../src/app/task.js';
import { nextLine, rate, wallClock } from '../support.js';
import { celeriacWorkerArgs, startChild } from './child.js';
import type { Contender } from './contender.js';

export class CeleriacSide implements Contender {
  readonly name = 'Celeriac';
  private readonly app: Celeriac;
  private readonly noop: TaskRef<[], null>;
  private readonly env: Record<string, string>;

  constructor(
    private readonly url: string,
    prefix: string,
  ) {
    this.app = new Celeriac({ broker: url, backend: url, keyPrefix: prefix });
    this.noop = this.app.signature<[], null>('bench.noop');
    this.env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, BENCH_PREFIX: prefix };
  }

  async setup(): Promise<void> {
    // Connections and JIT warm before anything is timed, as for BullMQ.
    for (let i = 0; i < 2000; i++) await this.noop.delay();
    await this.purge();
  }

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.noop.delay();
    const result = rate(count, wallClock() - start);
    await this.purge();
    return result;
  }

  async enqueueBulk(count: number): Promise<number> {
    const start = wallClock();
    await this.enqueueAll(count);
    const result = rate(count, wallClock() - start);
    await this.purge();
    return result;
  }

  async throughput(count: number, concurrency: number): Promise<number> {
    await this.enqueueAll(count);
    const worker = await startChild(celeriacWorkerArgs(concurrency), {
      ...this.env,
      BENCH_COUNT: String(count),
    });
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.purge();
    }
  }

  async latency(samples: number): Promise<number[]> {
    const probe = this.app.signature<[sentAt: number], number>('bench.latency');
    const worker = await startChild(celeriacWorkerArgs(10), this.env);
    try {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 20; i++) {
        const result = await probe.delay(wallClock());
        const ms = await result.get({ timeout: 10 });
        if (i >= 20) latencies.push(ms);
        // Let the worker go idle again between samples.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return latencies.sort((a, b) => a - b);
    } finally {
      await worker.stop();
    }
  }

  async teardown(): Promise<void> {
    await this.app.close();
  }

  private async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000) {
      await this.app.sendMany(
        Array.from({ length: Math.min(1000, count - i) }, () => ({ task: this.noop, args: [] })),
      );
    }
  }

  private async purge(): Promise<void> {
    await (await this.app.broker()).purge('celery');
  }
}
