/**
 * What only RabbitMQ can show about not losing messages: publisher confirms (a refused
 * message fails the publish), a consumer process killed with SIGKILL (its unacked
 * messages come back), connections closed by the server under load (reconnect, declare
 * again, resume, nothing lost), and a full outage (publishes fail clearly after their
 * deadline, then everything resumes). The outage goes through a local TCP proxy because
 * the shared RabbitMQ cannot be restarted while others test.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBroker, PublishRejectedError } from '../../../src/brokers/amqp/index.js';
import { AmqpConnection } from '../../../src/connections/amqp/connection.js';
import { ConfirmPublisher } from '../../../src/connections/amqp/publisher.js';
import { resolveAmqpOptions } from '../../../src/brokers/amqp/options.js';
import { pyAmqpLongTagSupported } from '../../../src/connections/amqp/amqplib.js';
import { BrokerConnectionError } from '../../../src/errors.js';
import type { Delivery } from '../../../src/brokers/broker.js';
import { makeMessage, sleep, waitFor } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import {
  AMQP_URL,
  closeConnectionsNamed,
  openAdmin,
  rabbitmqctlUsable,
  uniqueName,
  type Admin,
} from './support.js';
import { TcpProxy } from './tcp-proxy.js';

const CHILD = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'child-consumer.ts',
);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function admin(): Promise<Admin> {
  const opened = await openAdmin();
  cleanups.push(() => opened.close());
  return opened;
}

function idOf(delivery: Delivery): string {
  const id = delivery.message.headers.id;
  return typeof id === 'string' ? id : JSON.stringify(id);
}

describe('amqp reliability', () => {
  it('resolves a publish only on RabbitMQ’s confirm, and rejects one RabbitMQ refuses (basic.nack)', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const a = await admin();
    const queue = uniqueName('nack');
    await a.channel.assertQueue(queue, {
      durable: true,
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
    cleanups.push(() => a.remove({ queues: [queue] }));
    const options = resolveAmqpOptions(AMQP_URL, { connectionName: 'celeriac-test nack' });
    const connection = new AmqpConnection(options);
    cleanups.push(() => connection.close());
    await connection.start(5000);
    const publisher = new ConfirmPublisher(connection, 5000, 'Publishing');
    const publication = {
      exchange: '',
      routingKey: queue,
      content: Buffer.from('x'),
      options: { deliveryMode: 2 },
    };
    await publisher.publish(publication);
    await expect(publisher.publish(publication)).rejects.toBeInstanceOf(PublishRejectedError);
    expect((await a.channel.checkQueue(queue)).messageCount).toBe(1);
  });

  it('gives back every message a SIGKILLed consumer process held, flagged redelivered', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('kill9');
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test kill9',
      declareReplyQueues: false,
    });
    await broker.connect();
    const a = await admin();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    const ids = Array.from({ length: 20 }, (_, i) => `kill9-${i}`);
    await broker.publishMany(ids.map((id) => ({ message: makeMessage(id), options: { queue } })));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, AMQP_URL, queue, 'hold', '5'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => Promise.resolve(void child.kill('SIGKILL')));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(
      'the child to hold 5 messages',
      () => (output.match(/^got /gm) ?? []).length >= 5,
      20_000,
    );
    expect(await broker.queueLength(queue)).toBe(15);
    child.kill('SIGKILL');
    const seen: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 50, onDelivery: (d) => void seen.push(d) });
    await waitFor('all 20 messages back', () => seen.length >= 20, 10_000);
    expect(new Set(seen.map(idOf))).toEqual(new Set(ids));
    const held = new Set([...output.matchAll(/^got (\S+)/gm)].map((m) => m[1]));
    expect(seen.filter((d) => held.has(idOf(d))).every((d) => d.redelivered)).toBe(true);
    await Promise.all(seen.map((d) => d.ack()));
  });

  it('survives RabbitMQ closing its connections under load: reconnects, declares again, resumes, loses nothing', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const unusable = await rabbitmqctlUsable();
    if (unusable) ctx.skip(unusable);
    const queue = uniqueName('forceclose');
    const name = `celeriac-test ${uniqueName('forceclose')}`;
    const errors: Error[] = [];
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: name,
      onError: (e) => errors.push(e),
      publishTimeoutMs: 20_000,
      declareReplyQueues: false,
    });
    await broker.connect();
    const a = await admin();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    const received = new Set<string>();
    let deliveries = 0;
    const consumerErrors: Error[] = [];
    await broker.consume({
      queues: [queue],
      prefetch: 20,
      onDelivery: (d) => {
        deliveries += 1;
        received.add(idOf(d));
        d.ack().catch(() => undefined); // an ack lost with the connection means a redelivery, not a loss
      },
      onError: (e) => consumerErrors.push(e),
    });
    const total = 3000;
    const publishing = (async () => {
      for (let i = 0; i < total; i += 50) {
        const batch = Array.from({ length: 50 }, (_, j) => ({
          message: makeMessage(`fc-${i + j}`),
          options: { queue },
        }));
        await broker.publishMany(batch);
      }
    })();
    await waitFor('some traffic', () => received.size > 200, 10_000);
    const closedFirst = await closeConnectionsNamed(name);
    await waitFor('traffic after the first close', () => received.size > 1200, 20_000);
    const closedSecond = await closeConnectionsNamed(name);
    await publishing;
    await waitFor(`all ${total} messages`, () => received.size === total, 30_000);
    expect(closedFirst).toBeGreaterThanOrEqual(1);
    expect(closedSecond).toBeGreaterThanOrEqual(1);
    expect(errors.some((e) => /Lost the AMQP connection/.test(e.message))).toBe(true);
    expect(deliveries).toBeGreaterThanOrEqual(total);
    await sleep(300);
    expect(await broker.queueLength(queue)).toBe(0);
  });

  it('fails publishes clearly during an outage longer than their deadline, then declares again and resumes publishing and consuming', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const proxy = new TcpProxy(5672);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const queue = uniqueName('outage');
    const broker = new AmqpBroker(proxy.url(), {
      connectionName: 'celeriac-test outage',
      declareReplyQueues: false,
      publishTimeoutMs: 1500,
      reconnectDelayMs: { initial: 50, max: 300 },
    });
    await broker.connect();
    const a = await admin();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    const received: string[] = [];
    await broker.consume({
      queues: [queue],
      prefetch: 10,
      onDelivery: (d) => void d.ack().then(() => received.push(idOf(d))),
    });
    await broker.publish(makeMessage('before'), { queue });
    await waitFor('the first message', () => received.includes('before'));

    await proxy.stop();
    const started = Date.now();
    await expect(broker.publish(makeMessage('lost-cause'), { queue })).rejects.toBeInstanceOf(
      BrokerConnectionError,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    // As if RabbitMQ came back without our queue (a restart that lost it): it must be
    // declared again, by the publisher and by the consumer.
    await a.remove({ queues: [queue], exchanges: [queue] });
    // A publish started during the outage that ends within its deadline succeeds.
    const waiting = broker.publish(makeMessage('during'), { queue });
    await sleep(300);
    await proxy.start();
    await waiting;
    await broker.publish(makeMessage('after'), { queue });
    await waitFor(
      'consumption to resume',
      () => received.includes('during') && received.includes('after'),
      10_000,
    );
    expect(received).not.toContain('lost-cause');
  });

  it('declares a queue deleted behind its back again when RabbitMQ returns a publish as unroutable', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('deleted');
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test deleted',
      declareReplyQueues: false,
    });
    await broker.connect();
    const a = await admin();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    await broker.publish(makeMessage('first'), { queue });
    await a.remove({ queues: [queue], exchanges: [queue] });
    // Without `mandatory`, RabbitMQ would confirm this and drop it: no queue is bound.
    await broker.publish(makeMessage('after-delete'), { queue });
    expect(await broker.queueLength(queue)).toBe(1);
    const [message] = await a.drain(queue);
    expect(message!.properties.headers?.id).toBe('after-delete');
    // A batch takes the same care: every message of it returned is declared for and sent again.
    await a.remove({ queues: [queue], exchanges: [queue] });
    await broker.publishMany(
      ['b1', 'b2', 'b3'].map((id) => ({ message: makeMessage(id), options: { queue } })),
    );
    const batch = await a.drain(queue);
    expect(batch.map((m): unknown => m.properties.headers?.id)).toEqual(['b1', 'b2', 'b3']);
  });

  it('reads a header Python wrote as a 64-bit integer (tag L) without dropping the connection', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const a = await admin();
    const queue = uniqueName('long-tag');
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test long-tag',
      declareReplyQueues: false,
    });
    await broker.connect();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    await broker.queueLength(queue); // declares it
    expect(pyAmqpLongTagSupported).toBe(true);
    const { runPython, pythonHas } = await import('./support.js');
    const missing = await pythonHas('amqp');
    if (missing) ctx.skip(missing);
    await runPython(
      [
        'import amqp, sys',
        'c = amqp.Connection("127.0.0.1:5672"); c.connect(); ch = c.channel()',
        'ch.basic_publish(amqp.Message(b"[]", application_headers={"id": "big", "ts": 1700000000000, "neg": -(2**40)}), exchange="", routing_key=sys.argv[1])',
        'c.close()',
      ].join('\n'),
      [queue],
    );
    const seen: Delivery[] = [];
    const errors: Error[] = [];
    await broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (d) => void seen.push(d),
      onError: (e) => errors.push(e),
    });
    await waitFor('the message', () => seen.length === 1);
    expect(seen[0]!.message.headers).toMatchObject({
      id: 'big',
      ts: 1700000000000,
      neg: -(2 ** 40),
    });
    await seen[0]!.ack();
    await sleep(200);
    expect(errors).toEqual([]);
  });

  it('acks gathered into one frame cover only settled deliveries, and go out before a close', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('ack-window');
    const a = await admin();
    cleanups.push(() => a.remove({ queues: [queue], exchanges: [queue] }));
    const open = async () => {
      const broker = new AmqpBroker(AMQP_URL, {
        connectionName: 'celeriac-test ack-window',
        declareReplyQueues: false,
      });
      await broker.connect();
      cleanups.push(() => broker.close());
      return broker;
    };
    const first = await open();
    await first.publishMany(
      Array.from({ length: 50 }, (_, i) => ({ message: makeMessage(`m${i}`), options: { queue } })),
    );
    const seen: Delivery[] = [];
    const consumer = await first.consume({
      queues: [queue],
      prefetch: 100,
      onDelivery: (d) => void seen.push(d),
    });
    await waitFor('50 deliveries', () => seen.length === 50);
    // As a worker stops: the consumer is cancelled, the held tasks end and are acked in one
    // turn (out of order), and the connection closes at once. The queued acks must go out,
    // and must not cover the 3rd and 40th, which stay unsettled.
    await consumer.cancel();
    const held = new Set(['m2', 'm39']);
    await Promise.all(
      [...seen]
        .reverse()
        .filter((d) => !held.has(idOf(d)))
        .map((d) => d.ack()),
    );
    await first.close();
    const second = await open();
    const again: Delivery[] = [];
    await second.consume({ queues: [queue], prefetch: 100, onDelivery: (d) => void again.push(d) });
    await waitFor('the two unsettled ones back', () => again.length >= 2);
    await sleep(300);
    expect(again.map(idOf).sort()).toEqual(['m2', 'm39']);
    expect(again.every((d) => d.redelivered)).toBe(true);
    await Promise.all(again.map((d) => d.ack()));
  });

  it('keeps a message due in an hour inside RabbitMQ’s delay levels, never in a consumer', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const queue = uniqueName('eta-hour');
    const broker = new AmqpBroker(AMQP_URL, {
      connectionName: 'celeriac-test eta',
      declareReplyQueues: false,
    });
    await broker.connect();
    const a = await admin();
    cleanups.push(async () => {
      await broker.close();
      await a.remove({ queues: [queue], exchanges: [queue] });
    });
    const seen: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => void seen.push(d) });
    // 3600 s = 0b111000010000: the message first waits in celery_delayed_11.
    // The levels are declared at the first delayed publish: on a fresh RabbitMQ this counts 0.
    const before = await a.messageCount('celery_delayed_11');
    await broker.publish(makeMessage('in-an-hour'), { queue, deliverAt: Date.now() + 3_600_000 });
    await waitFor(
      'the message to sit in celery_delayed_11',
      async () => (await a.messageCount('celery_delayed_11')) > before,
    );
    await sleep(300);
    expect(seen).toEqual([]);
    expect(await broker.queueLength(queue)).toBe(0);
  });
});
