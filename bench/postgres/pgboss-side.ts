/**
 * pg-boss 12's side of the PostgreSQL benchmark, the same measures on the same database
 * in its own schema: awaited `send`, `insert` in batches of 1,000, and pre-enqueued no-ops
 * through one pg-boss worker process (bench/postgres/pgboss-worker.ts). pg-boss keeps its
 * defaults (completed jobs are kept, as Celeriac keeps results).
 */
import path from 'node:path';
import { PgBoss } from 'pg-boss';
import { ROOT } from '../support.js';
import { PgSide, type WorkerSpec } from './contender.js';

export const PGBOSS_QUEUE = 'bench';

export class PgBossSide extends PgSide {
  readonly name = 'pg-boss';
  private readonly boss: PgBoss;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {
    super();
    this.boss = new PgBoss({ connectionString: url, schema });
    this.boss.on('error', (error: Error) => process.stderr.write(`pg-boss: ${error.message}\n`));
  }

  async setup(): Promise<void> {
    await this.boss.start();
    await this.boss.createQueue(PGBOSS_QUEUE);
    for (let i = 0; i < 1000; i++) await this.enqueueOne();
    await this.reset();
  }

  async teardown(): Promise<void> {
    await this.boss.stop({ graceful: false }).catch(() => undefined);
  }

  protected async enqueueOne(): Promise<void> {
    await this.boss.send(PGBOSS_QUEUE, {});
  }

  protected async enqueueBatch(size: number): Promise<void> {
    await this.boss.insert(
      PGBOSS_QUEUE,
      Array.from({ length: size }, () => ({ data: {} })),
    );
  }

  protected async reset(): Promise<void> {
    await this.boss.deleteAllJobs(PGBOSS_QUEUE);
  }

  protected worker(count: number, concurrency: number): WorkerSpec {
    return {
      args: ['--import', 'tsx', path.join(ROOT, 'bench/postgres/pgboss-worker.ts')],
      env: {
        BENCH_PG_URL: this.url,
        BENCH_SCHEMA: this.schema,
        BENCH_COUNT: String(count),
        BENCH_CONCURRENCY: String(concurrency),
      },
    };
  }
}
