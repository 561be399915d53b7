/**
 * graphile-worker 0.18's side of the PostgreSQL benchmark, the same measures on the same
 * database in its own schema: awaited `addJob`, `addJobs` in batches of 1,000, and
 * pre-enqueued no-ops through one graphile-worker process (bench/postgres/graphile-worker.ts).
 * graphile-worker deletes a job once it succeeded (it keeps no results).
 */
import path from 'node:path';
import pg from 'pg';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import { nextLine, rate, ROOT, startChild, wallClock } from '../support.js';
import type { PgContender } from './contender.js';

export class GraphileSide implements PgContender {
  readonly name = 'graphile-worker';
  private utils: WorkerUtils | undefined;
  private readonly pool: pg.Pool;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 4 });
    this.pool.on('error', (error) => process.stderr.write(`graphile pool: ${error.message}\n`));
  }

  private get u(): WorkerUtils {
    if (!this.utils) throw new Error('graphile side not set up');
    return this.utils;
  }

  async setup(): Promise<void> {
    this.utils = await makeWorkerUtils({ pgPool: this.pool, schema: this.schema });
    await this.utils.migrate();
    for (let i = 0; i < 1000; i++) await this.u.addJob('noop', {});
    await this.reset();
  }

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.u.addJob('noop', {});
    const result = rate(count, wallClock() - start);
    await this.reset();
    return result;
  }

  async enqueueBulk(count: number): Promise<number> {
    const start = wallClock();
    await this.enqueueAll(count);
    const result = rate(count, wallClock() - start);
    await this.reset();
    return result;
  }

  async throughput(count: number, concurrency: number): Promise<number> {
    await this.enqueueAll(count);
    const worker = await startChild(
      ['--import', 'tsx', path.join(ROOT, 'bench/postgres/graphile-worker.ts')],
      {
        BENCH_PG_URL: this.url,
        BENCH_SCHEMA: this.schema,
        BENCH_COUNT: String(count),
        BENCH_CONCURRENCY: String(concurrency),
      },
    );
    try {
      const line = await nextLine(worker.lines, 'bench-done');
      return rate(count, Number(line.split(' ')[1]));
    } finally {
      await worker.stop();
      await this.reset();
    }
  }

  async teardown(): Promise<void> {
    await this.utils?.release();
    await this.pool.end();
  }

  private async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000)
      await this.u.addJobs(
        Array.from({ length: Math.min(1000, count - i) }, () => ({
          identifier: 'noop',
          payload: {},
        })),
      );
  }

  private async reset(): Promise<void> {
    await this.pool.query(`DELETE FROM "${this.schema}"._private_jobs`);
  }
}
