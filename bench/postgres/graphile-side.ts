/**
 * graphile-worker 0.18's side of the PostgreSQL benchmark, the same measures on the same
 * database in its own schema: awaited `addJob`, `addJobs` in batches of 1,000, and
 * pre-enqueued no-ops through one graphile-worker process (bench/postgres/graphile-worker.ts).
 * graphile-worker deletes a job once it succeeded (it keeps no results).
 */
import path from 'node:path';
import pg from 'pg';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import { ROOT } from '../support.js';
import { PgSide, type WorkerSpec } from './contender.js';

export class GraphileSide extends PgSide {
  readonly name = 'graphile-worker';
  private utils: WorkerUtils | undefined;
  private readonly pool: pg.Pool;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {
    super();
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
    for (let i = 0; i < 1000; i++) await this.enqueueOne();
    await this.reset();
  }

  async teardown(): Promise<void> {
    await this.utils?.release();
    await this.pool.end();
  }

  protected async enqueueOne(): Promise<void> {
    await this.u.addJob('noop', {});
  }

  protected async enqueueBatch(size: number): Promise<void> {
    await this.u.addJobs(Array.from({ length: size }, () => ({ identifier: 'noop', payload: {} })));
  }

  protected async reset(): Promise<void> {
    await this.pool.query(`DELETE FROM "${this.schema}"._private_jobs`);
  }

  protected worker(count: number, concurrency: number): WorkerSpec {
    return {
      args: ['--import', 'tsx', path.join(ROOT, 'bench/postgres/graphile-worker.ts')],
      env: {
        BENCH_PG_URL: this.url,
        BENCH_SCHEMA: this.schema,
        BENCH_COUNT: String(count),
        BENCH_CONCURRENCY: String(concurrency),
      },
    };
  }
}
