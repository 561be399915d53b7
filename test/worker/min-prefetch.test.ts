/**
 * The worker's prefetch is slots × (multiplier + 1), raised to the broker's `minPrefetch`:
 * on PostgreSQL (a claim is a round trip) a one-slot worker reserves 10, on memory 5 as Celery.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, Worker } from '../../src/index.js';
import { requireService } from '../support/services.js';
import { testSchema, type TestSchema } from '../support/postgres.js';

const opened: Array<{ worker: Worker; app: Celeriac; pg?: TestSchema }> = [];
afterEach(async () => {
  for (const { worker, app, pg } of opened.splice(0)) {
    await worker.stop();
    await app.close();
    await pg?.drop();
  }
});

describe('minimum prefetch of a database broker', () => {
  it('a one-slot worker on PostgreSQL reserves 10; on memory 5', async (ctx) => {
    await requireService(ctx, 'postgres');
    const pg = testSchema('min_prefetch');
    const app = new Celeriac({ broker: pg.url, backend: pg.url });
    const worker = new Worker(app, { queues: ['celery'], concurrency: 1 });
    opened.push({ worker, app, pg });
    await worker.start();
    expect(worker.prefetchCount).toBe(10);

    const memory = new Celeriac({ broker: `memory://${randomUUID()}` });
    const other = new Worker(memory, { queues: ['celery'], concurrency: 1 });
    opened.push({ worker: other, app: memory });
    await other.start();
    expect(other.prefetchCount).toBe(5);
    // Above the floor the slots decide, as Celery's.
    const wide = new Worker(app, { queues: ['celery'], concurrency: 4 });
    opened.push({ worker: wide, app });
    await wide.start();
    expect(wide.prefetchCount).toBe(20);
  });
});
