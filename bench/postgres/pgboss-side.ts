/**
 * pg-boss 12's side of the PostgreSQL benchmark, the same measures on the same database
 * in its own schema: awaited `send`, `insert` in batches of 1,000, and pre-enqueued no-ops
 * through one pg-boss worker process (bench/postgres/pgboss-worker.ts). pg-boss keeps its
 * defaults (completed jobs are kept, as Celeriac keeps results).
 */
import { PgBoss } from 'pg-boss';
import { nextLine, rate, ROOT, startChild, wallClock } from '../support.js';
import type { PgContender } from './contender.js';
import path from 'node:path';

export const PGBOSS_QUEUE = 'bench';

export class PgBossSide implements PgContender {
  readonly name = 'pg-boss';
  private readonly boss: PgBoss;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {
    this.boss = new PgBoss({ connectionString: url, schema });
    this.boss.on('error', (error: Error) => process.stderr.write(`pg-boss: ${error.message}\n`));
  }

  async setup(): Promise<void> {
    await this.boss.start();
    await this.boss.createQueue(PGBOSS_QUEUE);
    for (let i = 0; i < 1000; i++) await this.boss.send(PGBOSS_QUEUE, {});
    await this.reset();
  }

  async enqueueSequential(count: number): Promise<number> {
    const start = wallClock();
    for (let i = 0; i < count; i++) await this.boss.send(PGBOSS_QUEUE, {});
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
      ['--import', 'tsx', path.join(ROOT, 'bench/postgres/pgboss-worker.ts')],
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
    await this.boss.stop({ graceful: false }).catch(() => undefined);
  }

  private async enqueueAll(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1000)
      await this.boss.insert(
        PGBOSS_QUEUE,
        Array.from({ length: Math.min(1000, count - i) }, () => ({ data: {} })),
      );
  }

  private async reset(): Promise<void> {
    await this.boss.deleteAllJobs(PGBOSS_QUEUE);
  }
}
