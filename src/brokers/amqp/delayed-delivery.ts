/**
 * Celery 5.5's native delayed delivery, so a countdown or ETA waits inside RabbitMQ and
 * never in a worker (where RabbitMQ's consumer_timeout would kill the channel). 28 levels:
 * level n is a topic exchange and a queue whose messages expire after 2^n seconds into
 * level n-1; the routing key spells the delay in binary (28 digits, most significant
 * first) followed by the target queue, so each level either holds the message for its
 * 2^n seconds (digit 1) or passes it straight down (digit 0). Level 0 dead-letters into
 * `celery_delayed_delivery`, bound to the target queue.
 *
 * Names, arguments and bindings are Celery's (see celery-wire amqp/worker_quorum_delayed),
 * so Python Celery 5.5+ and Celeriac share one topology. Pure: no I/O here.
 */
import type { FieldTable } from '../../connections/amqp/field-table.js';
import { typedNumber } from '../../connections/amqp/field-table.js';

export const LEVELS = 28;
export const TOP_LEVEL = LEVELS - 1;
export const DELIVERY_EXCHANGE = 'celery_delayed_delivery';
/** The longest delay the levels can spell: 2^28 - 1 seconds (about 8.5 years). */
export const MAX_DELAY_SECONDS = 2 ** LEVELS - 1;

export function levelName(level: number): string {
  return `celery_delayed_${level}`;
}

/** Where a delayed message is published: the top level, with the binary routing key. */
export function delayedRoute(
  delaySeconds: number,
  queue: string,
): { exchange: string; routingKey: string } {
  if (!Number.isInteger(delaySeconds) || delaySeconds < 1 || delaySeconds > MAX_DELAY_SECONDS) {
    throw new RangeError(
      `A delay must be 1 to ${MAX_DELAY_SECONDS} whole seconds, not ${delaySeconds}.`,
    );
  }
  const bits = delaySeconds.toString(2).padStart(LEVELS, '0').split('').join('.');
  return { exchange: levelName(TOP_LEVEL), routingKey: `${bits}.${queue}` };
}

/**
 * Whole seconds to wait so the message never arrives before `deliverAt`; 0 when it is due.
 * Rounds up: RabbitMQ's TTLs count whole levels, so early would mean a second early.
 */
export function delaySecondsUntil(deliverAt: number, now: number): number {
  const ms = deliverAt - now;
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

export interface LevelDeclaration {
  exchange: string;
  queue: string;
  arguments: FieldTable;
  /** Binds the level's queue to its exchange: digit n is 1. */
  queuePattern: string;
  /** Binds the next level's exchange (or the delivery exchange) to this one: digit n is 0. */
  next: { exchange: string; pattern: string };
}

/** Every level, top first, with Celery's queue arguments. */
export function levelDeclarations(queueType: 'quorum' | 'classic'): LevelDeclaration[] {
  const levels: LevelDeclaration[] = [];
  for (let level = TOP_LEVEL; level >= 0; level--) {
    const prefix = '*.'.repeat(TOP_LEVEL - level);
    const nextExchange = level > 0 ? levelName(level - 1) : DELIVERY_EXCHANGE;
    const args: FieldTable = {
      'x-queue-type': queueType,
      'x-overflow': 'reject-publish',
      'x-message-ttl': typedNumber(2 ** level * 1000),
      'x-dead-letter-exchange': nextExchange,
    };
    // Quorum queues can move expired messages at least once; classic ones only at most once.
    if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
    levels.push({
      exchange: levelName(level),
      queue: levelName(level),
      arguments: args,
      queuePattern: `${prefix}1.#`,
      next: { exchange: nextExchange, pattern: `${prefix}0.#` },
    });
  }
  return levels;
}

/** Binds a work queue to the delivery exchange: exactly 28 digits, then its name. */
export function deliveryBindingPattern(queue: string): string {
  // Celery binds `#.<queue>`, which would also catch a queue named `x.<queue>`; counting the
  // 28 digits keeps queues apart. Both bindings can coexist: RabbitMQ delivers once.
  return `${'*.'.repeat(LEVELS)}${queue}`;
}
