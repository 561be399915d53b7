/**
 * Idempotent enqueue: fifty callers sending one key at once (from five apps, so five
 * connections) get one task id, the task runs once, and every caller's result replays
 * its result; a key frees after its window; a backend without a flow store refuses.
 * On SQLite, Redis and memory://.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac, FlowStoreUnavailableError } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { createMemoryBackend } from '../../src/backends/memory/index.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function apps(kind: 'sqlite' | 'redis' | 'memory', ctx: TestContext, count: number) {
  let url: string;
  let keyPrefix = '';
  if (kind === 'redis') {
    await requireService(ctx, 'redis');
    url = REDIS_URL;
    keyPrefix = `celeriac-test:idem-${randomUUID().slice(0, 8)}:`;
    cleanups.push(() => deleteRedisPrefix(keyPrefix));
  } else if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-idem-'));
    url = `sqlite://${path.join(dir, 'idem.db')}`;
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  } else {
    url = `memory://idem-${randomUUID()}`;
  }
  const made: Celeriac[] = [];
  for (let i = 0; i < count; i++) {
    const app = new Celeriac({ broker: url, keyPrefix });
    cleanups.push(() => app.close());
    made.push(app);
  }
  return made;
}

describe.each(['sqlite', 'redis', 'memory'] as const)('idempotent enqueue on %s', (kind) => {
  it('fifty concurrent senders of one key get one task, run once, result replayed', async (ctx) => {
    const senders = await apps(kind, ctx, 5);
    const worker = senders[0]!;
    let runs = 0;
    for (const app of senders)
      app.task('idem.charge', (order: string) => {
        runs++;
        return `charged ${order}`;
      });
    const key = `order-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        senders[i % 5]!.sendTask('idem.charge', ['o-1'], { idempotencyKey: key }),
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const w = new Worker(worker, { logger: createLineLogger({ level: 'silent' }) });
    cleanups.push(() => w.stop({ timeout: 2 }));
    await w.start();
    const values = await Promise.all(results.map((r) => r.get({ timeout: 10 })));
    expect(new Set(values)).toEqual(new Set(['charged o-1']));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(runs).toBe(1);
    const state = await worker.flow.state('idem.charge');
    expect(state.idempotency).toEqual([{ key, taskId: results[0]!.id }]);
    // Another key is another task.
    const other = await worker.sendTask('idem.charge', ['o-2'], { idempotencyKey: `${key}-2` });
    expect(other.id).not.toBe(results[0]!.id);
  });

  it('a key frees once its window has passed', async (ctx) => {
    const [app] = await apps(kind, ctx, 1);
    const first = await app!.sendTask('idem.x', [], {
      idempotencyKey: 'k',
      idempotencyWindow: 0.3,
    });
    const again = await app!.sendTask('idem.x', [], {
      idempotencyKey: 'k',
      idempotencyWindow: 0.3,
    });
    expect(again.id).toBe(first.id);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const later = await app!.sendTask('idem.x', [], {
      idempotencyKey: 'k',
      idempotencyWindow: 0.3,
    });
    expect(later.id).not.toBe(first.id);
  });
});

it('a backend without a flow store refuses an idempotency key, and sends nothing', async () => {
  const name = `idem-${randomUUID()}`;
  const backend = createMemoryBackend(`memory://${name}`);
  Object.assign(backend, { flowStore: undefined });
  const app = new Celeriac({ broker: `memory://${name}`, backend });
  cleanups.push(() => app.close());
  await expect(app.sendTask('idem.x', [], { idempotencyKey: 'k' })).rejects.toThrow(
    FlowStoreUnavailableError,
  );
  const broker = await app.broker();
  expect(await broker.queueLength('celery')).toBe(0);
});
