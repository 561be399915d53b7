/**
 * The message every AMQP bench side moves: a real Celery protocol v2 task message for a
 * no-op task (headers, properties and body as Celery writes them), so raw amqplib and our
 * broker carry the same bytes. Bench helper only.
 */
import { randomUUID } from 'node:crypto';
import { encodeTaskMessage } from '../../src/protocol/index.js';
import type { TransportMessage } from '../../src/protocol/types.js';

export function benchMessage(): TransportMessage {
  const id = randomUUID();
  return encodeTaskMessage({
    task: 'bench.noop',
    id,
    args: [],
    kwargs: {},
    origin: `bench@${process.pid}`,
    replyTo: '',
  });
}

export function uniqueQueue(label: string): string {
  return `celeriac-bench-${label}-${randomUUID().slice(0, 8)}`;
}
