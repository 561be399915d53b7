/**
 * Bad input on RabbitMQ, end to end through the `celeriac worker` CLI: a message that is
 * not a task and a task nobody registered are each rejected with one log line and land in
 * the queue's dead-letter queue with the reason (broker options from the URL's query), and
 * the worker goes on running good tasks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTaskMessage } from '../../../src/protocol/index.js';
import { toFieldTable } from '../../../src/connections/amqp/field-table.js';
import { AMQP_URL, requireService } from '../../support/services.js';
import { killAll, startWorker } from '../../support/worker-process.js';
import { openAdmin, uniqueName, type Admin } from '../../brokers/amqp/support.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NODE_APP = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'node-app.ts');

let admin: Admin | undefined;
const names: string[] = [];
afterEach(async () => {
  await killAll();
  await admin?.remove({ queues: names.flatMap((n) => [n, `${n}.dead-letter`]), exchanges: names });
  await admin?.close();
  admin = undefined;
});

function publishTask(a: Admin, queue: string, task: string, args: number[]): string {
  const message = encodeTaskMessage({
    task,
    id: uniqueName('id'),
    args,
    kwargs: {},
    origin: 'test@bad-input',
  });
  a.channel.sendToQueue(queue, message.body, {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers: toFieldTable(message.headers),
    ...(message.properties.correlation_id
      ? { correlationId: message.properties.correlation_id }
      : {}),
    deliveryMode: 2,
  });
  return message.headers.id as string;
}

describe('bad input on RabbitMQ', () => {
  it('dead-letters a non-task and an unknown task with the reason, logs one line each, keeps working', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('bad-input');
    names.push(queue);
    admin = await openAdmin();
    const worker = await startWorker(
      NODE_APP,
      { CELERIAC_BROKER_URL: `${AMQP_URL}//?deadLetter=true`, CELERIAC_RESULT_BACKEND: '' },
      ['-Q', queue, '-c', '2'],
    );
    admin.channel.sendToQueue(queue, Buffer.from('not a task at all'), {
      contentType: 'text/plain',
    });
    const unknown = publishTask(admin, queue, 'tasks.nobody', [1]);
    const good = publishTask(admin, queue, 'tasks.add', [2, 3]);
    await worker.waitFor(new RegExp(`Task tasks\\.add\\[${good}\\] succeeded`), 20_000);
    await worker.waitFor(/Rejected a malformed message/, 5000);
    await worker.waitFor(new RegExp(`Rejected task[^\\n]*${unknown}`), 5000);
    const dead = await admin.drain(`${queue}.dead-letter`);
    const reasons = dead.map((m) => ({
      id: (m.properties.headers?.id as string | undefined) ?? null,
      reason: String(m.properties.headers?.['x-celeriac-reason'] ?? ''),
    }));
    expect(reasons).toHaveLength(2);
    expect(reasons.find((r) => r.id === null)?.reason).toMatch(/\S/);
    expect(reasons.find((r) => r.id === unknown)?.reason).toMatch(/tasks\.nobody/);
    const lines = worker.output().split('\n');
    expect(lines.filter((l) => /Rejected a malformed message/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes(unknown) && /Rejected/.test(l))).toHaveLength(1);
    expect((await admin.channel.checkQueue(queue)).messageCount).toBe(0);
  });
});
