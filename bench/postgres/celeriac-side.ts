/**
 * Celeriac's side of the PostgreSQL benchmark, through the public API and a real worker
 * process (the built CLI on bench/bench-app.mjs): `delay()` one at a time, `sendMany()` in
 * batches of 1,000, pre-enqueued no-ops through `celeriac worker` with the results kept in
 * the PostgreSQL backend (as pg-boss keeps completed jobs). Its own schema.
 */
import { Celeriac } from '../../src/index.js';
import type { TaskRef } from '../../src/app/task.js';
import { nextLine, rate, startChild, wallClock, workerCommand } from '../support.js';
import type { PgContender } from './contender.js';

export class CeleriacPgSide implements PgContender {
  readonly name = 'Celeriac';
  private readonly app: Celeriac;
  private readonly noop: TaskRef<[], null>;
  private readonly env: Record<string, string>;

  constructor(url: string) {
    this.app = new Celeriac({ broker: url, backend: url });
    this.noop = this.app.signature<[], null>('bench.noop');
    this.env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  }

  async setup(): Promise<void> {
    for (let i = 0; i < 1000; i++) await this.noop.delay();
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
    const worker = await startChild(
      workerCommand('bench/bench-app.mjs', ['-c', String(concurrency)]),
      { ...this.env, BENCH_COUNT: String(count) },
    );
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.purge();
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
