/**
 * `celeriac status` lists the workers online, as Celery's does: live workers heartbeat
 * into the result backend's registry (SQLite and Redis), and leave it when they stop.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

const APP = 'test/worker/fixtures/app.ts';
const dirs: string[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const prefix of prefixes.splice(0)) await deleteRedisPrefix(prefix);
});

async function status(env: Record<string, string>): Promise<{ code: number | null; text: string }> {
  const run = runCli(['-A', APP, 'status'], env);
  const code = await run.exited;
  return { code, text: run.output() };
}

describe.each(['sqlite', 'redis'] as const)('celeriac status on %s', (kind) => {
  it('lists each live worker, and drops one that stopped', async (test) => {
    let env: Record<string, string>;
    if (kind === 'redis') {
      await requireService(test, 'redis');
      // Isolated by a key prefix of its own (database numbers are shared with other runs).
      const prefix = `status-${randomUUID()}:`;
      prefixes.push(prefix);
      env = { CELERIAC_BROKER_URL: `${REDIS_URL}/0?keyPrefix=${prefix}` };
    } else {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-status-'));
      dirs.push(dir);
      env = { CELERIAC_BROKER_URL: `sqlite://${path.join(dir, 'status.db')}` };
    }
    const none = await status(env);
    expect(none.text).toMatch(/^0 nodes online\.$/m);
    expect(none.code).toBe(1);

    const a = await startWorker(APP, env, ['-n', `a-${kind}@test`, '-c', '3']);
    await startWorker(APP, env, ['-n', `b-${kind}@test`, '-c', '2']);
    const two = await status(env);
    expect(two.code).toBe(0);
    expect(two.text).toMatch(
      new RegExp(`^-> a-${kind}@test: OK \\(pid ${a.child.pid}, queues celery, 0/3 busy`, 'm'),
    );
    expect(two.text).toMatch(new RegExp(`^-> b-${kind}@test: OK`, 'm'));
    expect(two.text).toMatch(/^2 nodes online\.$/m);

    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const one = await status(env);
    expect(one.text).not.toMatch(new RegExp(`a-${kind}@test`));
    expect(one.text).toMatch(/^1 node online\.$/m);
  });
});
