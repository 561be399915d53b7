/**
 * Celeriac's side of the Redis benchmark, through the public API and a real worker
 * process: `delay()` one at a time, `sendMany()` in batches, pre-enqueued no-ops through
 * `celeriac worker` (results stored, or `ignoreResult`), flow-limited no-ops, and
 * enqueue-to-start latency as the worker saw it. Keys live under its own prefix; the
 * runner deletes them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Celeriac } from '../../src/index.js';
import type { TaskRef } from '../../src/app/task.js';
import { nextLine, rate, wallClock } from '../support.js';
import { celeriacWorkerArgs, startChild } from './child.js';
import {
  LATENCY_WARMUP,
  parseLatencies,
  untilProbe,
  type Contender,
  type FlowLimit,
  type ThroughputOptions,
} from './contender.js';

const TASK_OF: Record<FlowLimit | 'none', string> = {
  none: 'bench.noop',
  perKey: 'bench.flow.perkey',
  globalRate: 'bench.flow.rate',
};

export interface CeleriacSideOptions {
  /** @default 'Celeriac' */
  name?: string;
  /** The worker's command line at a concurrency. @default this checkout's built CLI (celeriacWorkerArgs) */
  workerArgs?: (concurrency: number) => string[];
  /** @default both flow limits */
  limits?: readonly FlowLimit[];
}

export class CeleriacSide implements Contender {
  readonly name: string;
  readonly limits: readonly FlowLimit[];
  /** The worker's CPU time (user + system) per task in the last `throughput` run, in µs. */
  lastCpuPerTaskUs = NaN;
  private readonly app: Celeriac;
  private readonly noop: TaskRef<[], null>;
  private readonly env: Record<string, string>;
  private readonly workerArgs: (concurrency: number) => string[];

  constructor(url: string, prefix: string, options: CeleriacSideOptions = {}) {
    this.name = options.name ?? 'Celeriac';
    this.limits = options.limits ?? ['perKey', 'globalRate'];
    this.workerArgs = options.workerArgs ?? celeriacWorkerArgs;
    this.app = new Celeriac({ broker: url, backend: url, keyPrefix: prefix });
    this.noop = this.app.signature<[], null>('bench.noop');
    this.env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, BENCH_PREFIX: prefix };
  }

  async setup(): Promise<void> {
    // Connections and JIT warm before anything is timed, as for the peers.
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

  async throughput(
    count: number,
    concurrency: number,
    options: ThroughputOptions = {},
  ): Promise<number> {
    await this.enqueueAll(count, options);
    const worker = await startChild(this.workerArgs(concurrency), {
      ...this.env,
      BENCH_COUNT: String(count),
      ...(options.limit ? { BENCH_FLOW: '1' } : {}),
    });
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      const [, ms, cpuUs] = line.split(' ');
      this.lastCpuPerTaskUs = Number(cpuUs) / count;
      return rate(count, Number(ms));
    } finally {
      await worker.stop();
      await this.purge();
    }
  }

  async latency(samples: number, intervalMs: number): Promise<number[]> {
    const probe = this.app.signature<[sentAt: number], number>('bench.latency');
    const worker = await startChild(this.workerArgs(10), {
      ...this.env,
      BENCH_LATENCY_COUNT: String(samples + LATENCY_WARMUP),
    });
    try {
      const reported = nextLine(worker.lines, 'bench-latency');
      reported.catch(() => undefined); // awaited below; a worker that dies must not crash the bench
      const startedAt = wallClock();
      for (let i = 0; i < samples + LATENCY_WARMUP; i++) {
        await sleep(untilProbe(startedAt, i, intervalMs, wallClock()));
        await probe.delay(wallClock());
      }
      return parseLatencies(await reported);
    } finally {
      await worker.stop();
      await this.purge();
    }
  }

  async teardown(): Promise<void> {
    await this.app.close();
  }

  /** Sends `count` no-ops (or flow-limited no-ops, `[i]` picking the key) in batches of 1,000. */
  async enqueueAll(count: number, options: ThroughputOptions = {}): Promise<void> {
    const task = TASK_OF[options.limit ?? 'none'];
    const callOptions = options.results === false ? { ignoreResult: true } : {};
    for (let i = 0; i < count; i += 1000) {
      await this.app.sendMany(
        Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
          task,
          args: options.limit ? [i + j] : [],
          options: callOptions,
        })),
      );
    }
  }

  async purge(): Promise<void> {
    await (await this.app.broker()).purge('celery');
  }
}
