/**
 * What the Redis broker writes and reads besides the keys: kombu envelopes with the
 * routing and priority fields kombu fills in, the unacked triple's tail, redelivered
 * marks, delayed members and dead-letter entries. The envelope itself is the protocol
 * layer's (`protocol/kombu-envelope`); this file only adapts it to Redis.
 * Must never look inside a message body.
 */
import { decodeEnvelope, encodeEnvelope } from '../../protocol/kombu-envelope.js';
import { pythonJsonString } from '../../protocol/json.js';
import type { DeliveryInfo, TransportMessage } from '../../protocol/types.js';
import { fromKombuPriority } from './keys.js';

/**
 * The message as kombu's Redis transport sends it: `delivery_info` names the exchange and
 * routing key (kombu restores by them) and `priority` is kombu's 0..9, lower first.
 */
export function toWire(
  message: TransportMessage,
  exchange: string,
  routingKey: string,
  kombuPriority: number,
): TransportMessage {
  return {
    ...message,
    properties: {
      ...message.properties,
      delivery_info: { exchange, routing_key: routingKey },
      priority: kombuPriority,
    },
  };
}

/**
 * The envelope of `message`; with `route`, as `toWire` would make it, without copying the
 * message (a publish writes the route straight into the envelope's properties).
 */
export function encodeWire(
  message: TransportMessage,
  deliveryTag: string,
  route?: { exchange: string; routingKey: string; kombuPriority: number },
): string {
  return encodeEnvelope(
    message,
    deliveryTag,
    route && {
      exchange: route.exchange,
      routingKey: route.routingKey,
      priority: route.kombuPriority,
    },
  );
}

/** A fetched envelope as a consumer hands it out: priority on our scale, redelivered read off the marks. */
export function decodeDelivery(envelope: string): {
  message: TransportMessage;
  redelivered: boolean;
} {
  // decodeEnvelope hands back fresh objects: adjusting them in place copies nothing.
  const message = decodeEnvelope(envelope);
  const { properties } = message;
  const redelivered =
    properties.delivery_info?.redelivered === true || message.headers.redelivered === true;
  const priority = fromKombuPriority(properties.priority);
  if (priority === undefined) delete properties.priority;
  else properties.priority = priority;
  return { message, redelivered };
}

/**
 * The envelope marked as redelivered, the way kombu's restore marks it (in the headers and
 * in delivery_info), keeping its delivery tag.
 */
export function markRedelivered(envelope: string, deliveryTag: string): string {
  const message = decodeEnvelope(envelope);
  const info: DeliveryInfo = {
    exchange: '',
    routing_key: '',
    ...message.properties.delivery_info,
    redelivered: true,
  };
  return encodeEnvelope(
    {
      ...message,
      headers: { ...message.headers, redelivered: true },
      properties: { ...message.properties, delivery_info: info },
    },
    deliveryTag,
  );
}

/** Where kombu would restore a message: its exchange and routing key. */
export function routeOf(envelope: string): {
  exchange: string;
  routingKey: string;
  kombuPriority: number;
} {
  const message = decodeEnvelope(envelope);
  const info = message.properties.delivery_info;
  const priority = message.properties.priority;
  return {
    exchange: info?.exchange ?? '',
    routingKey: info?.routing_key ?? '',
    kombuPriority: typeof priority === 'number' ? priority : 0,
  };
}

/**
 * The end of kombu's unacked value `[envelope, exchange, routing_key]` written as Python's
 * json.dumps writes it: the fetch script appends it to the raw envelope.
 */
export function tripleTail(exchange: string, routingKey: string): string {
  return `, ${pythonJsonString(exchange)}, ${pythonJsonString(routingKey)}]`;
}

/** A delayed-set member: the target list (without prefix) and the envelope, length-prefixed. */
export function delayedMember(bareList: string, envelope: string): string {
  return `${bareList.length}:${bareList}${envelope}`;
}

/** The parts of a delayed-set member. */
export function parseDelayedMember(
  member: string,
): { bareList: string; envelope: string } | undefined {
  const match = /^(\d+):/.exec(member);
  if (!match) return undefined;
  const start = match[0].length;
  const length = Number(match[1]);
  return { bareList: member.slice(start, start + length), envelope: member.slice(start + length) };
}

export interface DeadLetterEntry {
  queue: string;
  reason: string;
  /** Unix ms. */
  at: number;
  /**
   * The raw envelope as it was fetched; for an entry the restore pass could not give back
   * (queue `_unreadable`), the unacked value as it was found, or '' when there was none.
   */
  envelope: string;
  /** The delivery tag, on the restore pass's entries (the only trace of one whose value was gone). */
  tag?: string;
}

export function encodeDeadLetter(entry: DeadLetterEntry): string {
  return JSON.stringify(entry);
}

export function decodeDeadLetter(text: string): DeadLetterEntry | undefined {
  try {
    const value = JSON.parse(text) as Partial<DeadLetterEntry>;
    if (typeof value.queue !== 'string' || typeof value.envelope !== 'string') return undefined;
    return {
      queue: value.queue,
      reason: String(value.reason ?? ''),
      at: Number(value.at ?? 0),
      envelope: value.envelope,
      ...(typeof value.tag === 'string' ? { tag: value.tag } : {}),
    };
  } catch {
    return undefined;
  }
}
