/**
 * The envelope kombu's virtual transports (Redis, and our SQLite store) keep a message in:
 * one JSON document `{"body", "content-encoding", "content-type", "headers", "properties"}`
 * with the body base64-encoded. Written byte-for-byte as kombu writes it, so Python and Node
 * can share one Redis queue. Pure text in, text out: it never looks inside the body.
 */
import { MalformedMessageError } from './errors.js';
import { parseCeleryJson, toPythonJson } from './json.js';
import type { JsonValue, MessageProperties, TransportMessage } from './types.js';

/**
 * The envelope text kombu would LPUSH for this message: key order `body, content-encoding,
 * content-type, headers, properties`; properties keep their order and end with
 * `body_encoding: "base64"` and the `delivery_tag` (kombu uses a fresh uuid4 per publish).
 */
export function encodeEnvelope(message: TransportMessage, deliveryTag: string): string {
  const properties: Record<string, JsonValue | undefined> = {};
  for (const key of Object.keys(message.properties)) {
    if (key !== 'body_encoding' && key !== 'delivery_tag') properties[key] = message.properties[key];
  }
  properties.body_encoding = 'base64';
  properties.delivery_tag = deliveryTag;
  return toPythonJson({
    body: message.body.toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers as Record<string, JsonValue>,
    properties: properties as Record<string, JsonValue>,
  });
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
    throw new MalformedMessageError(`the kombu envelope is not valid JSON (${(error as Error).message})`, {}, { cause: error });
  }
  if (!isObject(envelope)) throw new MalformedMessageError('the kombu envelope is not a JSON object');
  const headers = envelope.headers ?? {};
  const properties = envelope.properties ?? {};
  const headerContext = isObject(headers)
    ? { taskId: typeof headers.id === 'string' ? headers.id : null, taskName: typeof headers.task === 'string' ? headers.task : null }
    : {};
  const fail = (reason: string): never => {
    throw new MalformedMessageError(`kombu envelope: ${reason}`, headerContext);
  };
  if (!isObject(headers)) fail('"headers" is not an object');
  if (!isObject(properties)) fail('"properties" is not an object');
  const { body } = envelope;
  if (typeof body !== 'string') fail('"body" is not a string');
  const contentType = envelope['content-type'];
  const contentEncoding = envelope['content-encoding'];
  if (typeof contentType !== 'string') fail('"content-type" is missing');
  if (contentEncoding !== undefined && contentEncoding !== null && typeof contentEncoding !== 'string') fail('"content-encoding" is not a string');

  const props = { ...(properties as MessageProperties) };
  const bodyEncoding = props.body_encoding;
  delete props.body_encoding;
  let bytes: Buffer;
  if (bodyEncoding === 'base64') {
    bytes = Buffer.from(body as string, 'base64');
  } else if (bodyEncoding === undefined || bodyEncoding === null || (typeof bodyEncoding === 'string' && bodyEncoding.toLowerCase() === 'utf-8')) {
    // kombu leaves the body as text when the transport's body_encoding is off.
    bytes = Buffer.from(body as string, 'utf8');
  } else {
    return fail(`body_encoding ${JSON.stringify(bodyEncoding)} is not supported (base64 or none)`);
  }
  return {
    body: bytes,
    contentType: contentType as string,
    contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : 'utf-8',
    headers: headers as Record<string, JsonValue>,
    properties: props,
  };
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
