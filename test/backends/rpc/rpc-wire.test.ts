/**
 * The rpc:// backend through RabbitMQ, where the conformance suite cannot look: results
 * travel from a worker-side backend to the caller's reply queue; the message is byte for
 * byte what Celery 5.6's worker sent (worker_results_rpc capture); a real Python Celery
 * client (Debian's python3-celery, backend rpc://) reads the SUCCESS and FAILURE we send
 * it; revokes go out as Celery's remote-control broadcast.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcBackend } from '../../../src/backends/rpc/index.js';
import { AmqpBroker } from '../../../src/brokers/amqp/index.js';
import { decodeTaskMessage } from '../../../src/protocol/index.js';
import type { JsonObject, ResultMeta } from '../../../src/protocol/types.js';
import type { Delivery } from '../../../src/brokers/broker.js';
import { makeMessage, waitFor } from '../../../src/testing/broker-conformance.js';
import { AMQP_URL, requireService } from '../../support/services.js';
import { loadVector } from '../../protocol/wire-vectors.js';
import { openAdmin, pythonHas, uniqueName } from '../../brokers/amqp/support.js';

const run = promisify(execFile);
const RAW_GET = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../brokers/amqp/fixtures/raw_get.py',
);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function backend(label: string): Promise<RpcBackend> {
  const made = new RpcBackend('rpc://', {
    brokerUrl: AMQP_URL,
    connectionName: `celeriac-test rpc ${label}`,
  });
  await made.connect();
  cleanups.push(() => made.close());
  return made;
}

function meta(
  taskId: string,
  status: string,
  result: ResultMeta['result'],
  traceback: string | null = null,
): ResultMeta {
  return { task_id: taskId, status, result, traceback, children: [], date_done: null };
}

describe('rpc:// through RabbitMQ', () => {
  it('carries each state from the worker side to the caller’s reply queue, in order', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('rpc-tasks');
    const oid = uniqueName('rpc-oid');
    const client = new AmqpBroker(AMQP_URL, { connectionName: 'celeriac-test rpc client' });
    const worker = new AmqpBroker(AMQP_URL, { connectionName: 'celeriac-test rpc worker' });
    const admin = await openAdmin();
    cleanups.push(async () => {
      await client.close();
      await worker.close();
      await admin.remove({ queues: [queue, oid], exchanges: [queue] });
      await admin.close();
    });
    const callerSide = await backend('caller');
    callerSide.attachBroker(client); // as the caller's app does: it learns where its results come back
    const workerSide = await backend('worker');
    const sent = makeMessage(uniqueName('task'));
    sent.properties.reply_to = oid;
    await client.publish(sent, { queue });
    const taskId = sent.headers.id as string;
    const seen: string[] = [];
    await callerSide.subscribe(taskId, (m) => seen.push(m.status));
    const deliveries: Delivery[] = [];
    await worker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (d) => void deliveries.push(d),
    });
    await waitFor('the task', () => deliveries.length === 1);
    // As the worker stores: with the task message's reply_to and correlation_id.
    const route = { replyTo: oid, correlationId: taskId };
    await workerSide.store(meta(taskId, 'STARTED', { pid: 1, hostname: 'w' }), route);
    await workerSide.store(meta(taskId, 'PROGRESS', { current: 1, total: 2 }), route);
    await workerSide.store(meta(taskId, 'SUCCESS', 5), route);
    await deliveries[0]!.ack();
    await waitFor('three states', () => seen.length === 3);
    expect(seen).toEqual(['STARTED', 'PROGRESS', 'SUCCESS']);
    expect((await callerSide.get(taskId))?.result).toBe(5);
    // Another process asking for the same id sees nothing: results belong to the caller.
    expect(await workerSide.get(taskId)).toBeUndefined();
  });

  it('sends a result as Celery 5.6’s worker did: same property bytes and body', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const missing = await pythonHas('amqp');
    if (missing) ctx.skip(missing);
    const ops = loadVector('celery-5.6.3', 'amqp', 'worker_results_rpc.json')
      .worker_amqp_ops as JsonObject[];
    const captured = ops.find(
      (op) =>
        op.kind === 'basic_publish' &&
        op.exchange === '' &&
        typeof op.body === 'string' &&
        op.body.includes('"SUCCESS", "result": 5'),
    )!;
    const props = captured.properties as JsonObject;
    const queue = uniqueName('rpc-bytes');
    const admin = await openAdmin();
    cleanups.push(async () => {
      await admin.remove({ queues: [queue] });
      await admin.close();
    });
    const workerSide = await backend('bytes');
    const taskId = props.correlation_id as string;
    await workerSide.store(meta(taskId, 'SUCCESS', 5), { replyTo: queue, correlationId: taskId });
    const { stdout } = await run('/usr/bin/python3', [RAW_GET, '127.0.0.1:5672', queue]);
    const [got] = JSON.parse(stdout) as Array<{ raw_properties_hex: string; body: string }>;
    expect(got!.raw_properties_hex).toBe(captured.encoded_content_header_properties_hex);
    expect(got!.body).toBe(captured.body);
  });

  it('answers a Python Celery client (backend rpc://): it reads our SUCCESS and our FAILURE as its own', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const missing = await pythonHas('celery');
    if (missing) ctx.skip(missing);
    const queue = uniqueName('rpc-py');
    const worker = new AmqpBroker(AMQP_URL, { connectionName: 'celeriac-test rpc py-worker' });
    const admin = await openAdmin();
    cleanups.push(async () => {
      await worker.close();
      await admin.remove({ queues: [queue], exchanges: [queue] });
      await admin.close();
    });
    const workerSide = await backend('py');
    const script = [
      'import json, sys',
      'from celery import Celery',
      "app = Celery('client', broker=sys.argv[1], backend='rpc://')",
      "ok = app.send_task('tasks.add', args=[2, 3], queue=sys.argv[2])",
      "bad = app.send_task('tasks.fail', args=[], queue=sys.argv[2])",
      "out = {'add': ok.get(timeout=20)}",
      'try:',
      '    bad.get(timeout=20)',
      'except Exception as e:',
      "    out['fail'] = [type(e).__name__, str(e), bad.state]",
      'print(json.dumps(out))',
    ].join('\n');
    const python = spawn(
      '/usr/bin/python3',
      ['-c', script, 'amqp://guest:guest@127.0.0.1:5672//', queue],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => Promise.resolve(void python.kill('SIGKILL')));
    let stdout = '';
    let stderr = '';
    python.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    python.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await worker.consume({
      queues: [queue],
      prefetch: 2,
      onDelivery: (delivery) => {
        void (async () => {
          const task = decodeTaskMessage(delivery.message);
          const route = {
            replyTo: task.replyTo ?? undefined,
            correlationId: task.correlationId ?? task.id,
          };
          if (task.name === 'tasks.add') await workerSide.store(meta(task.id, 'SUCCESS', 5), route);
          else {
            const failure = {
              exc_type: 'ValueError',
              exc_message: ['boom from node'],
              exc_module: 'builtins',
            };
            await workerSide.store(
              meta(
                task.id,
                'FAILURE',
                failure,
                'Traceback (most recent call last):\nValueError: boom from node\n',
              ),
              route,
            );
          }
          await delivery.ack();
        })();
      },
    });
    await waitFor('the Python client to finish', () => stdout.includes('}'), 30_000).catch(() => {
      throw new Error(`python said: ${stdout}\n${stderr}`);
    });
    expect(JSON.parse(stdout)).toEqual({
      add: 5,
      fail: ['ValueError', 'boom from node', 'FAILURE'],
    });
  });
});
