/**
 * `celeriac status` prints the broker and backend it checked with credentials redacted, the
 * length of each queue the app knows (its default queue and its tasks' queues), and the
 * workers online; exit 1 when none is.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startWorker } from '../support/worker-process.js';
import { AMQP_URL, requireService } from '../support/services.js';
import { openAdmin } from '../brokers/amqp/support.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

const queuesToDelete: string[] = [];

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
  if (queuesToDelete.length) {
    const admin = await openAdmin();
    await admin.remove({ queues: queuesToDelete.splice(0) });
    await admin.close();
  }
});

describe('celeriac status', () => {
  it('shows the known queues with their lengths and the workers online', async () => {
    const { env } = sqliteEnv('status');
    for (const args of [['cli.add', '-a', '[1, 2]'], ['cli.add', '-a', '[3, 4]'], ['cli.other']]) {
      expect((await runToEnd(['-A', APP, 'call', ...args], env)).code).toBe(0);
    }
    const idle = await runToEnd(['-A', APP, 'status'], env);
    expect(idle.stdout).toMatch(/^broker: sqlite sqlite:\/\/\S+cli\.db OK$/m);
    expect(idle.stdout).toMatch(/^queue celery: 2 waiting$/m);
    expect(idle.stdout).toMatch(/^queue cli-other: 1 waiting$/m);
    expect(idle.stdout).toMatch(/^0 nodes online\.$/m);
    expect(idle.code).toBe(1);

    await startWorker(APP, env, ['-n', 'status@test', '-Q', 'cli-other', '-c', '2']);
    const busy = await runToEnd(['-A', APP, 'status', '-Q', 'cli-other'], env);
    expect(busy.stdout).toMatch(/^-> status@test: OK \(pid \d+, queues cli-other, \d\/2 busy/m);
    expect(busy.stdout).not.toMatch(/^queue celery:/m);
    expect(busy.stdout).toMatch(/^1 node online\.$/m);
    expect(busy.code).toBe(0);
  });

  it('redacts the password of the broker URL', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const url = new URL(AMQP_URL);
    expect(url.password, 'the test needs a URL with a password').not.toBe('');
    const queue = `status-${randomUUID().slice(0, 8)}`;
    queuesToDelete.push(queue);
    const { env } = sqliteEnv('redact');
    const run = await runToEnd(['-A', APP, '-b', AMQP_URL, 'status', '-Q', queue], {
      ...env,
      CELERIAC_RESULT_BACKEND: env.CELERIAC_BROKER_URL ?? '',
    });
    expect(run.stdout).toMatch(
      new RegExp(`^broker: amqp amqp://${url.username}:\\*\\*\\*@${url.host}\\S* OK$`, 'm'),
    );
    expect(run.stdout + run.stderr).not.toContain(`:${url.password}@`);
    expect(run.stdout).toMatch(new RegExp(`^queue ${queue}: 0 waiting$`, 'm'));
  });
});
