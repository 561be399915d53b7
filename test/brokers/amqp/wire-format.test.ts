/**
 * What Python sees of a message we publish, compared with what Celery itself published
 * (test/fixtures/celery-wire, 5.2.6 and 5.6.3): every task message Celery sent in the `send_*`
 * captures is published again through our broker, then read back by py-amqp (Python
 * Celery's client). The content-header property bytes must equal the captured bytes, the
 * headers must have the same Python types, and the body must be the same bytes. Also the
 * queue/exchange/binding Celery declares, and one message built end to end by our protocol
 * encoder for the same call as Celery's `add.delay(2, 3)`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../../src/brokers/amqp/index.js';
import { encodeTaskMessage } from '../../../src/protocol/index.js';
import type { JsonObject, JsonValue, TransportMessage } from '../../../src/protocol/types.js';
import { requireService } from '../../support/services.js';
import { loadVector, STACKS, vectorFiles, type Stack } from '../../protocol/wire-vectors.js';
import { AMQP_URL, openAdmin, pythonHas, uniqueName, type Admin } from './support.js';

const run = promisify(execFile);
const RAW_GET = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'raw_get.py');

interface Seen {
  raw_properties_hex: string;
  headers: JsonObject;
  header_python_types: JsonValue;
  properties: JsonObject;
  body: string;
}

async function readWithPython(queue: string): Promise<Seen[]> {
  const { stdout } = await run('/usr/bin/python3', [RAW_GET, '127.0.0.1:5672', queue], {
    timeout: 30_000,
  });
  return JSON.parse(stdout) as Seen[];
}

interface CapturedPublish {
  file: string;
  message: TransportMessage;
  hex: string;
  types: JsonValue;
  body: string;
}

/** Every task message Celery published to the default exchange in a stack's send_* files. */
function capturedPublishes(stack: Stack): CapturedPublish[] {
  const out: CapturedPublish[] = [];
  for (const file of vectorFiles(stack, 'amqp', 'send_')) {
    const data = loadVector(stack, 'amqp', file);
    for (const op of data.client_amqp_ops as JsonObject[]) {
      if (op.kind !== 'basic_publish' || op.exchange !== '') continue;
      const props = op.properties as JsonObject;
      const properties: TransportMessage['properties'] = {};
      for (const key of ['correlation_id', 'reply_to', 'delivery_mode', 'priority', 'expiration']) {
        if (props[key] !== undefined) properties[key] = props[key];
      }
      out.push({
        file,
        message: {
          body: Buffer.from(op.body as string, 'utf8'),
          contentType: props.content_type as string,
          contentEncoding: props.content_encoding as string,
          headers: props.application_headers as JsonObject,
          properties,
        },
        hex: op.encoded_content_header_properties_hex as string,
        types: op.header_python_types as JsonValue,
        body: op.body as string,
      });
    }
  }
  return out;
}

describe('amqp wire format as Python sees it', () => {
  let broker: AmqpBroker;
  let admin: Admin;
  const queues: string[] = [];

  beforeAll(async () => {
    // No x-max-priority: a priority queue would hand the messages back out of order.
    broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test wire',
      declareReplyQueues: false,
    });
    admin = await openAdmin();
  });

  afterAll(async () => {
    await broker?.close();
    await admin?.remove({ queues, exchanges: queues });
    await admin?.close();
  });

  it.for(STACKS)(
    'publishes each task message of Celery %s with the same property bytes, header types and body',
    async (stack, ctx) => {
      await requireService(ctx, 'rabbitmq');
      const missing = await pythonHas('amqp');
      if (missing) ctx.skip(missing);
      await broker.connect();
      const captured = capturedPublishes(stack);
      expect(captured.length).toBeGreaterThan(15);
      const queue = uniqueName(`wire-${stack}`);
      queues.push(queue);
      for (const { message } of captured) await broker.publish(message, { queue });
      const seen = await readWithPython(queue);
      expect(seen).toHaveLength(captured.length);
      captured.forEach((want, i) => {
        const got = seen[i]!;
        expect({ file: want.file, hex: got.raw_properties_hex }).toEqual({
          file: want.file,
          hex: want.hex,
        });
        expect(got.header_python_types).toEqual(want.types);
        expect(got.body).toBe(want.body);
      });
    },
  );

  it('builds add.delay(2, 3) end to end (protocol encoder + broker) byte for byte as Celery 5.6 did', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const missing = await pythonHas('amqp');
    if (missing) ctx.skip(missing);
    await broker.connect();
    const op = (
      loadVector('celery-5.6.3', 'amqp', 'send_delay.json').client_amqp_ops as JsonObject[]
    ).find((entry) => entry.kind === 'basic_publish')!;
    const props = op.properties as JsonObject;
    const headers = props.application_headers as JsonObject;
    const message = encodeTaskMessage({
      task: 'tasks.add',
      id: headers.id as string,
      args: [2, 3],
      kwargs: {},
      origin: headers.origin as string,
      replyTo: props.reply_to as string,
    });
    const queue = uniqueName('wire-e2e');
    queues.push(queue);
    await broker.publish(message, { queue });
    const [got] = await readWithPython(queue);
    expect(got!.raw_properties_hex).toBe(op.encoded_content_header_properties_hex);
    expect(got!.body).toBe(op.body);
  });

  it('gives Python back the types it sent for integers, floats, nesting and big numbers', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const missing = await pythonHas('amqp');
    if (missing) ctx.skip(missing);
    await broker.connect();
    const queue = uniqueName('wire-types');
    queues.push(queue);
    const message: TransportMessage = {
      body: Buffer.from('[]'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {
        small: 3,
        negative: -5,
        port: 5672,
        int32max: 2147483647,
        big: 2 ** 40,
        float: 1.5,
        flag: true,
        none: null,
        nested: { list: [1, 'two', null, [2.5]] },
      },
      properties: { delivery_mode: 2 },
    };
    await broker.publish(message, { queue });
    const [got] = await readWithPython(queue);
    expect(got!.headers).toEqual(message.headers);
    expect(got!.header_python_types).toEqual({
      small: 'int',
      negative: 'int',
      port: 'int',
      int32max: 'int',
      big: 'int',
      float: 'float',
      flag: 'bool',
      none: 'NoneType',
      nested: { list: ['int', 'str', 'NoneType', ['float']] },
    });
  });
});
