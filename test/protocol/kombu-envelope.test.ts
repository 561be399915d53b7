/**
 * Proves the Redis/SQLite envelope is written with kombu's key order and base64 body and
 * read back from kombu's forms, rejecting anything else with MalformedMessageError.
 */
import { describe, expect, it } from 'vitest';
import {
  MalformedMessageError,
  decodeEnvelope,
  encodeEnvelope,
  encodeTaskMessage,
} from '../../src/protocol/index.js';

const message = encodeTaskMessage({
  task: 'tasks.add',
  id: 'id-1',
  args: [2, 3],
  kwargs: {},
  origin: 'gen1@host',
  replyTo: 'oid',
});

describe('encodeEnvelope', () => {
  it("writes kombu's key order with a base64 body, body_encoding and delivery_tag last", () => {
    const text = encodeEnvelope(message, 'tag-1');
    const parsed = JSON.parse(text) as Record<string, Record<string, unknown>>;
    expect(Object.keys(parsed)).toEqual([
      'body',
      'content-encoding',
      'content-type',
      'headers',
      'properties',
    ]);
    expect(Object.keys(parsed.properties!)).toEqual([
      'correlation_id',
      'reply_to',
      'delivery_mode',
      'delivery_info',
      'priority',
      'body_encoding',
      'delivery_tag',
    ]);
    expect(Buffer.from(parsed.body as unknown as string, 'base64')).toEqual(message.body);
    expect(text.startsWith('{"body": "W1sy')).toBe(true);
    expect(
      text.endsWith('"priority": 0, "body_encoding": "base64", "delivery_tag": "tag-1"}}'),
    ).toBe(true);
  });

  it('replaces a stale delivery tag and body encoding instead of writing them twice', () => {
    const again = encodeEnvelope(
      {
        ...message,
        properties: { ...message.properties, body_encoding: 'base64', delivery_tag: 'old' },
      },
      'new',
    );
    expect(again).toBe(encodeEnvelope(message, 'new'));
  });

  it('escapes non-ASCII header text as kombu json does', () => {
    const unicode = encodeTaskMessage({ task: 't', id: 'i', args: ['é'], kwargs: {}, origin: 'o' });
    expect(encodeEnvelope(unicode, 't')).toContain('"argsrepr": "(\'\\u00e9\',)"');
  });
});

describe('decodeEnvelope', () => {
  it('round-trips: body bytes back, body_encoding dropped, delivery_tag kept', () => {
    const decoded = decodeEnvelope(encodeEnvelope(message, 'tag-1'));
    expect(decoded.body).toEqual(message.body);
    expect(decoded.headers).toEqual(message.headers);
    expect(decoded.properties).toEqual({ ...message.properties, delivery_tag: 'tag-1' });
    expect([decoded.contentType, decoded.contentEncoding]).toEqual(['application/json', 'utf-8']);
  });

  it('keeps the other properties in their order, an own "__proto__" key as plain data', () => {
    const decoded = decodeEnvelope(
      '{"body": "", "content-type": "application/json", "headers": {}, ' +
        '"properties": {"reply_to": "r", "body_encoding": "base64", "__proto__": {"polluted": 1}, "delivery_tag": "t"}}',
    );
    expect(Object.keys(decoded.properties)).toEqual(['reply_to', '__proto__', 'delivery_tag']);
    expect(Object.getPrototypeOf(decoded.properties)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded.properties, '__proto__')?.value).toEqual({
      polluted: 1,
    });
    expect((decoded.properties as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('reads an envelope whose body is plain text (no body_encoding)', () => {
    const decoded = decodeEnvelope(
      '{"body": "[[1], {}, {}]", "content-type": "application/json", "headers": {}, "properties": {}}',
    );
    expect(decoded.body.toString()).toBe('[[1], {}, {}]');
    expect(decoded.contentEncoding).toBe('utf-8');
  });

  it.each([
    ['not JSON', 'nope', /not valid JSON/],
    ['not an object', '[]', /not a JSON object/],
    [
      'a body that is not a string',
      '{"body": 1, "content-type": "application/json"}',
      /"body" is not a string/,
    ],
    ['no content-type', '{"body": "", "headers": {}}', /"content-type" is missing/],
    [
      'headers that are not an object',
      '{"body": "", "content-type": "application/json", "headers": 1}',
      /"headers" is not an object/,
    ],
    [
      'properties that are not an object',
      '{"body": "", "content-type": "application/json", "properties": []}',
      /"properties" is not an object/,
    ],
    [
      'an unknown body_encoding',
      '{"body": "", "content-type": "application/json", "properties": {"body_encoding": "rot13"}}',
      /body_encoding "rot13" is not supported/,
    ],
  ])('rejects %s with MalformedMessageError', (_what, text, reason) => {
    expect(() => decodeEnvelope(text)).toThrow(MalformedMessageError);
    expect(() => decodeEnvelope(text)).toThrow(reason);
  });

  it('names no task when the headers are not an object', () => {
    expect(() =>
      decodeEnvelope('{"body": "", "content-type": "x", "headers": ["tasks.add"]}'),
    ).toThrow('Rejected a malformed task message: kombu envelope: "headers" is not an object');
  });

  it('names the task in the error when the headers say which', () => {
    expect(() =>
      decodeEnvelope(
        '{"body": 1, "content-type": "x", "headers": {"task": "tasks.add", "id": "i"}}',
      ),
    ).toThrow(
      'Rejected a malformed task message (task "tasks.add", id "i"): kombu envelope: "body" is not a string',
    );
  });
});
