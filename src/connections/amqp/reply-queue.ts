/**
 * How Celery declares its reply queues (rpc:// results): the AMQP broker declares the one a
 * published message names, the rpc:// backend the ones it reads and sends to; both sides
 * must declare them alike or RabbitMQ refuses the second declaration.
 */
import type * as Amqplib from 'amqplib';
import { toFieldTable } from './field-table.js';

/** Celery's reply queues (rpc:// results): auto-deleted, expiring after a day unused. */
export function replyQueueOptions(): Amqplib.Options.AssertQueue {
  return {
    durable: false,
    exclusive: false,
    autoDelete: true,
    arguments: toFieldTable({ 'x-expires': 86_400_000 }),
  };
}
