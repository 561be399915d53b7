/**
 * The ceiling: plain amqplib, publishing with confirms (pipelined, honouring 'drain') and
 * consuming with manual acks (prefetch 100), on a queue declared as our broker declares
 * it. What our broker layer is measured against. Must not use any Celeriac code beyond
 * building the message and its typed headers.
 */
import type * as Amqplib from 'amqplib';
import { amqplib } from '../../src/connections/amqp/amqplib.js';
import { toFieldTable } from '../../src/connections/amqp/field-table.js';
import { benchMessage } from './messages.js';

export interface RawFigures {
  publishPerSec: number;
  consumePerSec: number;
}

export async function measureRaw(
  url: string,
  queue: string,
  count: number,
  prefetch: number,
): Promise<RawFigures> {
  const connection = await amqplib.connect(url, {
    clientProperties: { connection_name: 'celeriac-bench raw' },
  });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(queue, 'direct', { durable: true });
    await channel.assertQueue(queue, { durable: true, arguments: {} });
    await channel.bindQueue(queue, queue, queue);
    const messages = Array.from({ length: count }, benchMessage);
    const started = performance.now();
    await publishAll(channel, queue, messages);
    const publishMs = performance.now() - started;

    const consumer = await connection.createChannel();
    await consumer.prefetch(prefetch, false);
    const consumeStarted = performance.now();
    await new Promise<void>((resolve) => {
      let seen = 0;
      void consumer.consume(queue, (message) => {
        if (!message) return;
        consumer.ack(message);
        if (++seen === count) resolve();
      });
    });
    const consumeMs = performance.now() - consumeStarted;
    await consumer.close();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(queue);
    return { publishPerSec: (count / publishMs) * 1000, consumePerSec: (count / consumeMs) * 1000 };
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function publishAll(
  channel: Amqplib.ConfirmChannel,
  queue: string,
  messages: ReturnType<typeof benchMessage>[],
): Promise<void> {
  const confirms: Array<Promise<void>> = [];
  for (const message of messages) {
    let written = true;
    confirms.push(
      new Promise<void>((resolve, reject) => {
        written = channel.publish(
          '',
          queue,
          message.body,
          {
            contentType: message.contentType,
            contentEncoding: message.contentEncoding,
            headers: toFieldTable(message.headers),
            deliveryMode: 2,
            priority: 0,
            ...(message.properties.correlation_id
              ? { correlationId: message.properties.correlation_id }
              : {}),
            ...(message.properties.reply_to ? { replyTo: message.properties.reply_to } : {}),
          },
          (error: unknown) =>
            error
              ? reject(error instanceof Error ? error : new Error('publish failed'))
              : resolve(),
        );
      }),
    );
    // amqplib's buffer is full: wait until it is written out, as amqplib asks.
    if (!written) await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
  }
  await Promise.all(confirms);
}
