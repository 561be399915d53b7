/**
 * Maps a broker-neutral TransportMessage to what amqplib publishes, and a delivered AMQP
 * message back, with the properties Celery sets (content type and encoding, headers,
 * correlation_id, reply_to, delivery_mode, priority, expiration) and the raw body: on AMQP
 * Celery sends the body bytes as they are, with no envelope and no base64.
 *
 * Must never look inside the body and never add a property Celery does not send: extra
 * properties change the bytes Python sees and what it hashes or compares.
 */
import type * as Amqplib from 'amqplib';
import type { JsonValue, MessageProperties, TransportMessage } from '../../protocol/types.js';
import { fromOwnedFieldTable, toFieldTable } from '../../connections/amqp/field-table.js';

/** Headers RabbitMQ writes when it dead-letters a message; they describe a past route. */
const BROKER_HEADERS = [
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
];

/** Headers Celeriac adds when it dead-letters a message. */
const DEAD_LETTER_HEADERS = ['x-celeriac-reason', 'x-celeriac-rejected-at'];

/** A dead letter as it goes back to its queue: without the record of its dead-lettering. */
export function withoutDeadLetterHeaders(message: TransportMessage): TransportMessage {
  const headers = { ...message.headers };
  for (const key of [...BROKER_HEADERS, ...DEAD_LETTER_HEADERS]) delete headers[key];
  return { ...message, headers };
}

export interface EncodeOptions {
  /** From PublishOptions; wins over `properties.priority`. */
  priority?: number | undefined;
  /**
   * The message goes through the delay levels: leave out `expiration`, or RabbitMQ would
   * expire it out of a level early (and on to the next) instead of holding it.
   */
  delayed?: boolean;
  /** The message is published again (defer, dead-letter): drop RabbitMQ's x-death headers. */
  republish?: boolean;
  /** Extra headers to add (a dead-letter reason). */
  extraHeaders?: Record<string, JsonValue>;
}

export function toPublishOptions(
  message: TransportMessage,
  options: EncodeOptions = {},
): Amqplib.Options.Publish {
  const props = message.properties;
  let headers: Record<string, JsonValue | undefined> = message.headers;
  if (options.republish) {
    headers = { ...headers };
    for (const key of BROKER_HEADERS) delete headers[key];
  }
  if (options.extraHeaders) headers = { ...headers, ...options.extraHeaders };
  const publish: Amqplib.Options.Publish = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers: toFieldTable(headers),
    // Celery's task messages are persistent (2); results over rpc:// are transient (1).
    deliveryMode: props.delivery_mode ?? 2,
  };
  const priority = options.priority ?? props.priority;
  if (priority !== undefined) publish.priority = priority;
  if (props.correlation_id !== undefined) publish.correlationId = props.correlation_id;
  if (props.reply_to !== undefined) publish.replyTo = props.reply_to;
  if (props.expiration !== undefined && !options.delayed)
    publish.expiration = String(props.expiration);
  copyString(props, 'message_id', (v) => (publish.messageId = v));
  copyString(props, 'type', (v) => (publish.type = v));
  copyString(props, 'user_id', (v) => (publish.userId = v));
  copyString(props, 'app_id', (v) => (publish.appId = v));
  if (typeof props.timestamp === 'number') publish.timestamp = props.timestamp;
  return publish;
}

function copyString(props: MessageProperties, key: string, set: (value: string) => void): void {
  const value = props[key];
  if (typeof value === 'string') set(value);
}

/**
 * A delivered AMQP message as a TransportMessage; `delivery_info` as kombu reports it.
 * Takes over the message's decoded headers (converted in place, not copied): the caller
 * owns the delivery and reads its headers only through the result. No closures in here:
 * it runs once per delivery.
 */
export function fromAmqpMessage(message: Amqplib.Message): TransportMessage {
  const p = message.properties;
  const fields = message.fields;
  const properties: MessageProperties = {
    delivery_info: {
      exchange: fields.exchange,
      routing_key: fields.routingKey,
      redelivered: fields.redelivered ?? false,
    },
  };
  // amqplib decodes these short strings to strings; anything else is left out.
  setString(properties, 'correlation_id', p.correlationId);
  setString(properties, 'reply_to', p.replyTo);
  if (typeof p.deliveryMode === 'number') properties.delivery_mode = p.deliveryMode;
  if (typeof p.priority === 'number') properties.priority = p.priority;
  setString(properties, 'expiration', p.expiration);
  setString(properties, 'message_id', p.messageId);
  if (typeof p.timestamp === 'number') properties.timestamp = p.timestamp;
  setString(properties, 'type', p.type);
  setString(properties, 'user_id', p.userId);
  setString(properties, 'app_id', p.appId);
  return {
    body: message.content,
    contentType: asString(p.contentType) ?? '',
    contentEncoding: asString(p.contentEncoding) ?? '',
    headers: fromOwnedFieldTable(p.headers),
    properties,
  };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function setString(properties: MessageProperties, key: string, value: unknown): void {
  const text = asString(value);
  if (text !== undefined) properties[key] = text;
}
