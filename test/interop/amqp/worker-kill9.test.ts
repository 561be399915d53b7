/**
 * A `celeriac worker` on RabbitMQ killed with SIGKILL in the middle of a task loses
 * nothing: RabbitMQ gives the unacked message back the moment the connection drops, and
 * the next worker runs it (at least once: the killed one never finished it).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { AMQP_URL, requireService } from '../../support/services.js';
import { killAll, startWorker } from '../../support/worker-process.js';
import { openAdmin, uniqueName } from '../../brokers/amqp/support.js';

const NODE_APP = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'node-app.ts');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('a worker killed with SIGKILL on RabbitMQ', () => {
  it('loses nothing: the task it was running runs on the next worker', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('kill9-worker');
    const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: '' };
    const app = new Celeriac({ broker: `${AMQP_URL}//?declareReplyQueues=false` });
    const admin = await openAdmin();
    cleanups.push(async () => {
      await app.close();
      await admin.remove({ queues: [queue], exchanges: [queue] });
      await admin.close();
    });
    const first = await startWorker(NODE_APP, env, ['-Q', queue, '-c', '1']);
    const sent = await app.sendTask('tasks.sleep', [1500], { queue });
    await first.waitFor(/sleep-started/, 10_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startWorker(NODE_APP, env, ['-Q', queue, '-c', '1']);
    await second.waitFor(new RegExp(`Task tasks\\.sleep\\[${sent.id}\\] succeeded`), 15_000);
    expect(second.output()).toMatch(/sleep-started/);
    expect((await admin.channel.checkQueue(queue)).messageCount).toBe(0);
  });
});
