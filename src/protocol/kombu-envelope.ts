/**
 * The envelope kombu's virtual transports (Redis, and our SQLite store) keep a message in:
 * one JSON document `{"body", "content-encoding", "content-type", "headers", "properties"}`
 * with the body base64-encoded. Written byte-for-byte as kombu writes it, so Python and Node
 * can share one Redis queue. Pure text in, text out: it never looks inside the body.
 */
import { MalformedMessageError } from './errors.js';
import { parseCeleryJson, pythonJsonKey, toPythonJsonAt } from './json.js';
import type { JsonValue, MessageProperties, TransportMessage } from './types.js';

/**
 * Where a transport routes the message, written into the envelope's properties as kombu's
 * Redis transport does: `delivery_info` names the exchange and routing key, `priority` is
 * the transport's own scale. Each replaces the property of that name in place, or is added
 * after the others when the message has none.
 */
export interface EnvelopeRoute {
  exchange: string;
  routingKey: string;
  priority: number;
}

/**
 * The envelope text kombu would LPUSH for this message: key order `body, content-encoding,
 * content-type, headers, properties`; properties keep their order and end with
 * `body_encoding: "base64"` and the `delivery_tag` (kombu uses a fresh uuid4 per publish).
 * Written piece by piece, as toPythonJson would write the whole (the same bytes), without
 * copying the message or its properties into the document first: one is written per publish.
 */
export function encodeEnvelope(
  message: TransportMessage,
  deliveryTag: string,
  route?: EnvelopeRoute,
): string {
  // The envelope is level 1: its values are written at depth 1, the properties' at depth 2.
  let out = `{"body": "${message.body.toString('base64')}"`;
  if (message.contentEncoding !== undefined)
    out += `, "content-encoding": ${toPythonJsonAt(message.contentEncoding, 1)}`;
  if (message.contentType !== undefined)
    out += `, "content-type": ${toPythonJsonAt(message.contentType, 1)}`;
  if (message.headers !== undefined)
    out += `, "headers": ${toPythonJsonAt(message.headers as Record<string, JsonValue>, 1)}`;
  out += ', "properties": {';
  const properties = message.properties;
  let routed = route === undefined;
  let prioritised = route === undefined;
  for (const key in properties) {
    if (!Object.prototype.hasOwnProperty.call(properties, key)) continue;
    if (key === 'body_encoding' || key === 'delivery_tag') continue;
    let value: JsonValue | undefined = properties[key];
    if (route !== undefined) {
      if (key === 'delivery_info') {
        routed = true;
        value = deliveryInfo(route);
      } else if (key === 'priority') {
        prioritised = true;
        value = route.priority;
      }
    }
    if (value === undefined) continue;
    out += `${pythonJsonKey(key)}${toPythonJsonAt(value, 2)}, `;
  }
  if (!routed) out += `"delivery_info": ${toPythonJsonAt(deliveryInfo(route!), 2)}, `;
  if (!prioritised) out += `"priority": ${toPythonJsonAt(route!.priority, 2)}, `;
  return `${out}"body_encoding": "base64", "delivery_tag": ${toPythonJsonAt(deliveryTag, 2)}}}`;
}

function deliveryInfo(route: EnvelopeRoute): JsonValue {
  return { exchange: route.exchange, routing_key: route.routingKey };
}

/**
 * Read an envelope back into a broker-neutral message. The body comes back as the raw bytes
 * (base64 undone); `body_encoding` is dropped from the properties because it described the
 * envelope, while `delivery_tag` and `delivery_info` (with `redelivered`) are kept.
 * @throws MalformedMessageError when the text is not such an envelope.
 */
export function decodeEnvelope(text: string): TransportMessage {
  let envelope: JsonValue;
  try {
    envelope = parseCeleryJson(text);
  } catch (error) {
    throw new MalformedMessageError(
      `the kombu envelope is not valid JSON (${(error as Error).message})`,
      {},
      { cause: error },
    );
  }
  if (!isObject(envelope))
    throw new MalformedMessageError('the kombu envelope is not a JSON object');
  const headers = envelope.headers ?? {};
  const properties = envelope.properties ?? {};
  if (!isObject(headers)) throw envelopeError('"headers" is not an object', headers);
  if (!isObject(properties)) throw envelopeError('"properties" is not an object', headers);
  const { body } = envelope;
  if (typeof body !== 'string') throw envelopeError('"body" is not a string', headers);
  const contentType = envelope['content-type'];
  const contentEncoding = envelope['content-encoding'];
  if (typeof contentType !== 'string') throw envelopeError('"content-type" is missing', headers);
  if (
    contentEncoding !== undefined &&
    contentEncoding !== null &&
    typeof contentEncoding !== 'string'
  ) {
    throw envelopeError('"content-encoding" is not a string', headers);
  }

  const bodyEncoding = properties.body_encoding;
  let bytes: Buffer;
  if (bodyEncoding === 'base64') {
    bytes = Buffer.from(body, 'base64');
  } else if (
    bodyEncoding === undefined ||
    bodyEncoding === null ||
    (typeof bodyEncoding === 'string' && bodyEncoding.toLowerCase() === 'utf-8')
  ) {
    // kombu leaves the body as text when the transport's body_encoding is off.
    bytes = Buffer.from(body, 'utf8');
  } else {
    throw envelopeError(
      `body_encoding ${JSON.stringify(bodyEncoding)} is not supported (base64 or none)`,
      headers,
    );
  }
  return {
    body: bytes,
    contentType,
    contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : 'utf-8',
    headers,
    properties: withoutBodyEncoding(properties),
  };
}

/**
 * The properties minus `body_encoding`, in their order. Copied rather than deleted in place:
 * deleting a key other than the last turns a V8 object into a slow dictionary, and every
 * later reader (the task decoder, the broker) would pay for it. Rest destructuring copies
 * as spread does (an own "__proto__" key stays data) and is the fastest such copy.
 */
function withoutBodyEncoding(properties: { [key: string]: JsonValue }): MessageProperties {
  if (!('body_encoding' in properties)) return properties;
  const { body_encoding: _dropped, ...rest } = properties;
  return rest;
}

/** Made only on failure: the task id and name help find the sender, when the headers have them. */
function envelopeError(reason: string, headers: JsonValue): MalformedMessageError {
  const context = isObject(headers)
    ? {
        taskId: typeof headers.id === 'string' ? headers.id : null,
        taskName: typeof headers.task === 'string' ? headers.task : null,
      }
    : {};
  return new MalformedMessageError(`kombu envelope: ${reason}`, context);
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
