/**
 * Celeriac's side of the PostgreSQL benchmark, through the public API and a real worker
 * process (the built CLI on bench/bench-app.mjs): `delay()` one at a time, `sendMany()` in
 * batches of 1,000, pre-enqueued no-ops through `celeriac worker` with the results kept in
 * the PostgreSQL backend (as pg-boss keeps completed jobs). Its own schema.
 */
import { Celeriac } from '../../src/index.js';
import type { TaskRef } from '../../src/app/task.js';
import { workerCommand } from '../support.js';
import { PgSide, type WorkerSpec } from './contender.js';

export class CeleriacPgSide extends PgSide {
  readonly name = 'Celeriac';
  private readonly app: Celeriac;
  private readonly noop: TaskRef<[], null>;
  private readonly env: Record<string, string>;

  constructor(url: string) {
    super();
    this.app = new Celeriac({ broker: url, backend: url });
    this.noop = this.app.signature<[], null>('bench.noop');
    this.env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  }

  async setup(): Promise<void> {
    for (let i = 0; i < 1000; i++) await this.enqueueOne();
    await this.reset();
  }

  async teardown(): Promise<void> {
    await this.app.close();
  }

  protected async enqueueOne(): Promise<void> {
    await this.noop.delay();
  }

  protected async enqueueBatch(size: number): Promise<void> {
    await this.app.sendMany(Array.from({ length: size }, () => ({ task: this.noop, args: [] })));
  }

  protected async reset(): Promise<void> {
    await (await this.app.broker()).purge('celery');
  }

  protected worker(count: number, concurrency: number): WorkerSpec {
    return {
      args: workerCommand('bench/bench-app.mjs', ['-c', String(concurrency)]),
      env: { ...this.env, BENCH_COUNT: String(count) },
    };
  }
}
