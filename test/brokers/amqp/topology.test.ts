/**
 * The exchanges, queues, arguments and bindings our broker leaves in RabbitMQ, read back
 * with `rabbitmqctl` and compared with what Celery left in the captures (broker_state of
 * test/fixtures/celery-wire/celery-5.6.3/amqp): the default queue, a priority queue, a quorum
 * queue with a topic exchange, and the 28 delay levels of native delayed delivery.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { AmqpBroker, type AmqpBrokerOptions } from '../../../src/brokers/amqp/index.js';
import type { JsonObject } from '../../../src/protocol/types.js';
import { makeMessage } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { loadVector } from '../../protocol/wire-vectors.js';
import { AMQP_URL, openAdmin, rabbitmqctlUsable, uniqueName } from './support.js';

const run = promisify(execFile);

async function list(what: 'queues' | 'exchanges' | 'bindings'): Promise<JsonObject[]> {
  const columns = {
    queues: ['name', 'durable', 'auto_delete', 'arguments', 'type'],
    exchanges: ['name', 'type', 'durable', 'auto_delete', 'internal', 'arguments'],
    bindings: [
      'source_name',
      'source_kind',
      'destination_name',
      'destination_kind',
      'routing_key',
      'arguments',
    ],
  }[what];
  const { stdout } = await run(
    'rabbitmqctl',
    [`list_${what}`, ...columns, '--formatter', 'json', '-q'],
    { timeout: 30_000, maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout) as JsonObject[];
}

/** The captured broker state of `file`, only the entries naming `from`, renamed to `to`. */
function captured(file: string, from: string, to: string) {
  const state = loadVector('celery-5.6.3', 'amqp', file).broker_state as Record<
    string,
    JsonObject[]
  >;
  const rename = (value: unknown) => (value === from ? to : value);
  const pick = (entry: JsonObject, keys: string[]) =>
    Object.fromEntries(keys.map((k) => [k, rename(entry[k])]));
  return {
    queue: state
      .queues!.filter((q) => q.name === from)
      .map((q) => pick(q, ['name', 'durable', 'auto_delete', 'arguments', 'type'])),
    exchange: state
      .exchanges!.filter((e) => e.name === from)
      .map((e) => pick(e, ['name', 'type', 'durable', 'auto_delete', 'internal', 'arguments'])),
    bindings: state
      .bindings!.filter((b) => b.destination_name === from)
      .map((b) =>
        pick(b, [
          'source_name',
          'source_kind',
          'destination_name',
          'destination_kind',
          'routing_key',
          'arguments',
        ]),
      ),
  };
}

async function live(name: string) {
  const [queues, exchanges, bindings] = await Promise.all([
    list('queues'),
    list('exchanges'),
    list('bindings'),
  ]);
  return {
    queue: queues.filter((q) => q.name === name),
    exchange: exchanges.filter((e) => e.name === name),
    bindings: bindings.filter((b) => b.destination_name === name),
  };
}

const made: Array<{ broker: AmqpBroker; queue: string }> = [];
afterAll(async () => {
  const admin = await openAdmin();
  for (const { broker, queue } of made) {
    await broker.close();
    await admin.remove({ queues: [queue], exchanges: [queue] });
  }
  await admin.close();
});

async function declareWith(options: AmqpBrokerOptions, label: string): Promise<string> {
  const broker = new AmqpBroker(AMQP_URL, {
    connectionName: `celeriac-test topology ${label}`,
    declareReplyQueues: false,
    ...options,
  });
  const queue = uniqueName(label);
  made.push({ broker, queue });
  await broker.publish(makeMessage(), { queue });
  return queue;
}

describe('amqp topology, as Celery declares it', () => {
  const cases: Array<[string, string, AmqpBrokerOptions]> = [
    [
      'the default queue: direct exchange, durable classic queue, no arguments',
      'send_delay.json',
      {},
    ],
    [
      'task_queue_max_priority = 10: x-max-priority',
      'send_priority_5_max_priority_queue.json',
      { maxPriority: 10 },
    ],
    [
      'quorum queues with a topic exchange (Celery 5.5+)',
      'send_quorum_queue_countdown.json',
      { queueType: 'quorum', exchangeType: 'topic' },
    ],
  ];

  it.for(cases)('%s', async ([, file, options], ctx) => {
    await requireService(ctx, 'rabbitmq');
    const unusable = await rabbitmqctlUsable();
    if (unusable) ctx.skip(unusable);
    const queue = await declareWith(options, 'topology');
    const want = captured(file, 'celery', queue);
    const got = await live(queue);
    expect(got.queue).toEqual(want.queue);
    expect(got.exchange).toEqual(want.exchange);
    // Celery 5.6's quorum capture also has `#.celery` from the topic exchange to the queue,
    // made by its worker for delayed delivery; we bind the queue to the delivery exchange instead.
    expect(got.bindings).toEqual(
      expect.arrayContaining(want.bindings.filter((b) => b.routing_key !== `#.${queue}`)),
    );
  });

  it('declares the 28 delay levels with Celery’s names, TTLs, dead-letter chain and bindings', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const unusable = await rabbitmqctlUsable();
    if (unusable) ctx.skip(unusable);
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test topology delayed',
      declareReplyQueues: false,
    });
    const queue = uniqueName('delayed-topology');
    made.push({ broker, queue });
    await broker.publish(makeMessage(), { queue, deliverAt: Date.now() + 1500 });
    const state = loadVector('celery-5.6.3', 'amqp', 'worker_quorum_delayed.json')
      .broker_state_after as Record<string, JsonObject[]>;
    const isLevel = (name: unknown) =>
      typeof name === 'string' && /^celery_delayed_\d+$/.test(name);
    const key = (entry: JsonObject, keys: string[]) => JSON.stringify(keys.map((k) => entry[k]));
    const queueKeys = ['name', 'durable', 'auto_delete', 'arguments', 'type'];
    const bindingKeys = ['source_name', 'destination_name', 'destination_kind', 'routing_key'];
    const wantQueues = state
      .queues!.filter((q) => isLevel(q.name))
      .map((q) => key(q, queueKeys))
      .sort();
    const wantBindings = state
      .bindings!.filter((b) => isLevel(b.source_name))
      .map((b) => key(b, bindingKeys))
      .sort();
    expect(wantQueues).toHaveLength(28);
    const [queues, bindings] = await Promise.all([list('queues'), list('bindings')]);
    expect(
      queues
        .filter((q) => isLevel(q.name))
        .map((q) => key(q, queueKeys))
        .sort(),
    ).toEqual(wantQueues);
    expect(
      bindings
        .filter((b) => isLevel(b.source_name))
        .map((b) => key(b, bindingKeys))
        .sort(),
    ).toEqual(wantBindings);
    const delivery = bindings.filter(
      (b) => b.source_name === 'celery_delayed_delivery' && b.destination_name === queue,
    );
    expect(delivery.map((b) => b.routing_key)).toEqual([`${'*.'.repeat(28)}${queue}`]);
  });
});
