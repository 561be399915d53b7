/**
 * Proves encodeTaskMessage's options land where Celery puts them, and that decodeTaskMessage
 * reads protocol v1 and compressed bodies and rejects every kind of malformed message with
 * one precise reason (MalformedMessageError) or refuses non-JSON (UnsupportedContentTypeError).
 */
import { brotliCompressSync, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  MalformedMessageError,
  UnsupportedContentTypeError,
  decodeTaskMessage,
  encodeTaskMessage,
  type JsonValue,
  type TaskMessageSpec,
  type TransportMessage,
} from '../../src/protocol/index.js';

const NOW = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
const base: TaskMessageSpec = {
  task: 'tasks.add',
  id: 'id-1',
  args: [2, 3],
  kwargs: {},
  origin: 'gen1@host',
  now: NOW,
};

function message(
  overrides: Partial<TransportMessage> & { bodyText?: string } = {},
): TransportMessage {
  const { bodyText, ...rest } = overrides;
  const encoded = encodeTaskMessage(base);
  return {
    ...encoded,
    ...(bodyText === undefined ? {} : { body: Buffer.from(bodyText) }),
    ...rest,
  };
}

function withHeaders(headers: Record<string, JsonValue | undefined>): TransportMessage {
  const encoded = encodeTaskMessage(base);
  return { ...encoded, headers: { ...encoded.headers, ...headers } };
}

describe('encodeTaskMessage', () => {
  it("writes Celery 5.6's header set, properties and body for a plain delay()", () => {
    const m = encodeTaskMessage({ ...base, replyTo: 'oid' });
    expect(m.headers).toEqual({
      lang: 'py',
      task: 'tasks.add',
      id: 'id-1',
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: 'id-1',
      parent_id: null,
      argsrepr: '(2, 3)',
      kwargsrepr: '{}',
      origin: 'gen1@host',
      ignore_result: false,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
    });
    expect(m.properties).toEqual({
      correlation_id: 'id-1',
      reply_to: 'oid',
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: 'celery' },
      priority: 0,
    });
    expect(Object.keys(m.properties)).toEqual([
      'correlation_id',
      'reply_to',
      'delivery_mode',
      'delivery_info',
      'priority',
    ]);
    expect([m.contentType, m.contentEncoding]).toEqual(['application/json', 'utf-8']);
    expect(m.body.toString()).toBe(
      '[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
    );
    expect(m.properties.body_encoding).toBeUndefined();
  });

  it('turns countdown into an eta and numeric expires into an ISO expires plus expiration in ms', () => {
    const m = encodeTaskMessage({ ...base, countdown: 10, expires: 60 });
    expect(m.headers.eta).toBe('2030-01-02T03:04:15.678000+00:00');
    expect(m.headers.expires).toBe('2030-01-02T03:05:05.678000+00:00');
    expect(m.properties.expiration).toBe('60000');
    expect(Object.keys(m.properties)).toEqual([
      'correlation_id',
      'reply_to',
      'delivery_mode',
      'expiration',
      'delivery_info',
      'priority',
    ]);
  });

  it('computes expiration from a Date and clamps a past expiry to 0, as Celery does', () => {
    expect(
      encodeTaskMessage({ ...base, expires: new Date(NOW + 1500) }).properties.expiration,
    ).toBe('1500');
    expect(
      encodeTaskMessage({ ...base, expires: new Date(NOW - 5000) }).properties.expiration,
    ).toBe('0');
  });

  it('writes ISO eta/expires strings verbatim (Celery does on retries) but refuses invalid ones', () => {
    const m = encodeTaskMessage({ ...base, eta: '2030-01-02T03:04:05.678901+00:00' });
    expect(m.headers.eta).toBe('2030-01-02T03:04:05.678901+00:00');
    expect(() => encodeTaskMessage({ ...base, eta: 'soon' })).toThrow(
      /eta is not an ISO 8601 datetime/,
    );
    expect(() => encodeTaskMessage({ ...base, eta: new Date(NaN) })).toThrow(
      /eta is not a valid Date/,
    );
  });

  it('merges user headers flat after the protocol headers and appends compression last', () => {
    const m = encodeTaskMessage({
      ...base,
      headers: { 'x-custom-header': 'custom-value', skipped: undefined },
      compression: 'gzip',
    });
    expect(Object.keys(m.headers).slice(-2)).toEqual(['x-custom-header', 'compression']);
    expect(m.headers.compression).toBe('application/x-gzip');
    expect(m.body.subarray(0, 1)).toEqual(Buffer.from('x'));
    expect(decodeTaskMessage(m).args).toEqual([2, 3]);
    expect(decodeTaskMessage(encodeTaskMessage({ ...base, compression: 'brotli' })).args).toEqual([
      2, 3,
    ]);
  });

  it('writes stamps and their names, the workflow embed, limits and routing', () => {
    const sig = {
      task: 'tasks.echo',
      args: ['ok'],
      kwargs: {},
      options: {},
      subtask_type: null,
      immutable: false,
    };
    const m = encodeTaskMessage({
      ...base,
      stamps: { on_stamp: 'x' },
      callbacks: [sig],
      chord: sig,
      timeLimit: 30,
      softTimeLimit: 20,
      shadow: 'alias',
      groupId: 'g',
      groupIndex: 1,
      rootId: 'root',
      parentId: 'parent',
      ignoreResult: true,
      priority: 5,
      deliveryMode: 1,
      exchange: 'tasks',
      routingKey: 'other',
      properties: { origin: 'gen1@host' },
    });
    expect(m.headers).toMatchObject({
      stamped_headers: ['on_stamp'],
      stamps: { on_stamp: 'x' },
      timelimit: [30, 20],
      shadow: 'alias',
      group: 'g',
      group_index: 1,
      root_id: 'root',
      parent_id: 'parent',
      ignore_result: true,
    });
    expect(m.properties).toMatchObject({
      priority: 5,
      delivery_mode: 1,
      delivery_info: { exchange: 'tasks', routing_key: 'other' },
    });
    expect(Object.keys(m.properties).slice(0, 3)).toEqual(['correlation_id', 'reply_to', 'origin']);
    const decoded = decodeTaskMessage(m);
    expect(decoded.embed.callbacks).toEqual([sig]);
    expect(decoded.embed.chord).toEqual(sig);
  });

  it('refuses a spec that cannot be a task (programming errors throw TypeError)', () => {
    expect(() => encodeTaskMessage({ ...base, task: '' })).toThrow(TypeError);
    expect(() => encodeTaskMessage({ ...base, id: '' })).toThrow(TypeError);
    expect(() => encodeTaskMessage({ ...base, args: {} as never })).toThrow(
      /args must be an array/,
    );
    expect(() => encodeTaskMessage({ ...base, kwargs: [] as never })).toThrow(
      /kwargs must be a plain object/,
    );
    expect(() => encodeTaskMessage({ ...base, retries: -1 })).toThrow(/retries/);
  });
});

describe('decodeTaskMessage', () => {
  it('reads a protocol 1 body (a dict, no task header), with hybrid headers on top', () => {
    const body = {
      task: 'tasks.add',
      id: 'v1-id',
      args: [1, 2],
      kwargs: { z: 1 },
      retries: 2,
      eta: '2030-01-02T03:04:05.678901',
      expires: null,
      utc: true,
      callbacks: null,
      errbacks: null,
      timelimit: [10, 5],
      taskset: 'set-1',
      chord: null,
    };
    const decoded = decodeTaskMessage({
      body: Buffer.from(JSON.stringify(body)),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      properties: { correlation_id: 'v1-id' },
    });
    expect(decoded).toMatchObject({
      protocol: 1,
      name: 'tasks.add',
      id: 'v1-id',
      args: [1, 2],
      kwargs: { z: 1 },
      retries: 2,
      timeLimit: 10,
      softTimeLimit: 5,
      groupId: 'set-1',
    });
    expect(decoded.eta?.toISOString()).toBe('2030-01-02T03:04:05.678Z');
    expect(decoded.headers.argsrepr).toBe('(1, 2)');
    expect(decoded.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
  });

  it('accepts a missing embed and fills what a hand-written signature leaves out', () => {
    const noEmbed = decodeTaskMessage(message({ bodyText: '[[1], {}, null]' }));
    expect(noEmbed.embed.chain).toBeNull();
    const sparse = decodeTaskMessage(
      message({ bodyText: '[[1], {}, {"callbacks": [{"task": "tasks.echo"}]}]' }),
    );
    expect(sparse.embed.callbacks).toEqual([
      {
        task: 'tasks.echo',
        args: [],
        kwargs: {},
        options: {},
        subtask_type: null,
        immutable: false,
      },
    ]);
  });

  it('reads "" reply_to as no reply queue', () => {
    expect(decodeTaskMessage(message()).replyTo).toBeNull();
  });

  it.each([
    ['application/x-python-serialize', /pickle/],
    ['application/x-yaml', /yaml/],
    ['application/x-msgpack', /msgpack/],
    ['text/plain', /"text\/plain"/],
    ['', /no content type/],
  ])('refuses content type %j without deserializing it', (contentType, reason) => {
    const attempt = () =>
      decodeTaskMessage(message({ contentType, bodyText: "cos\nsystem\n(S'echo pwned'\ntR." }));
    expect(attempt).toThrow(UnsupportedContentTypeError);
    expect(attempt).toThrow(reason);
    expect(attempt).toThrow(
      /only JSON \(application\/json\) is accepted and message bodies are never evaluated/,
    );
  });

  it('accepts a JSON content type with parameters', () => {
    expect(
      decodeTaskMessage(message({ contentType: 'application/json; charset=utf-8' })).name,
    ).toBe('tasks.add');
  });

  const malformed: [string, () => TransportMessage, RegExp][] = [
    [
      'a body that is not JSON',
      () => message({ bodyText: '[[2, 3], {}, {' }),
      /body is not valid JSON .*: "\[\[2, 3\], \{\}, \{"/,
    ],
    [
      'a body that is not UTF-8',
      () => message({ body: Buffer.from([0x5b, 0xff, 0x5d]) }),
      /body is not valid UTF-8/,
    ],
    [
      'a body that is not a list',
      () => message({ bodyText: '{"args": []}' }),
      /protocol 2 body must be \[args, kwargs, embed\], got an object/,
    ],
    [
      'a body list of the wrong length',
      () => message({ bodyText: '[[1], {}]' }),
      /got a list of 2 items/,
    ],
    [
      'args that are not a list',
      () => message({ bodyText: '[{"a": 1}, {}, {}]' }),
      /args must be a list, got an object/,
    ],
    [
      'kwargs that are not an object',
      () => message({ bodyText: '[[1], [2], {}]' }),
      /kwargs must be an object, got a list of 1 item$/,
    ],
    [
      'an embed that is not an object',
      () => message({ bodyText: '[[1], {}, 5]' }),
      /embed \(third body item\) must be an object, got the number 5/,
    ],
    [
      'callbacks that are not signatures',
      () => message({ bodyText: '[[1], {}, {"callbacks": [1]}]' }),
      /callbacks\[0\] must be a signature object/,
    ],
    [
      'a chord signature without a task',
      () => message({ bodyText: '[[1], {}, {"chord": {"args": []}}]' }),
      /chord has no task name/,
    ],
    [
      'no task name',
      () => withHeaders({ task: '' }),
      /task name must be a non-empty string, got the string ""/,
    ],
    [
      'a task name that is not a string',
      () => withHeaders({ task: 5 }),
      /task name must be a non-empty string, got the number 5/,
    ],
    ['no task id', () => withHeaders({ id: null }), /no task id/],
    [
      'a bad eta',
      () => withHeaders({ eta: 'tomorrow' }),
      /eta is not a valid ISO 8601 datetime: "tomorrow"/,
    ],
    [
      'an eta that is not a string',
      () => withHeaders({ eta: 1700000000 }),
      /eta must be an ISO 8601 datetime or null, got the number 1700000000/,
    ],
    [
      'a bad expires',
      () => withHeaders({ expires: '2030-02-30T00:00:00' }),
      /expires is not a valid ISO 8601 datetime/,
    ],
    [
      'negative retries',
      () => withHeaders({ retries: -1 }),
      /retries must be a non-negative integer, got the number -1/,
    ],
    [
      'a timelimit that is not a pair',
      () => withHeaders({ timelimit: [1] }),
      /timelimit must be \[hard, soft\], got a list of 1 item/,
    ],
    [
      'a negative time limit',
      () => withHeaders({ timelimit: [null, -5] }),
      /soft time limit must be a non-negative number/,
    ],
    ['a non-string root_id', () => withHeaders({ root_id: 7 }), /root_id must be a string or null/],
    [
      'a bad group_index',
      () => withHeaders({ group_index: 'first' }),
      /group_index must be a non-negative integer or null/,
    ],
    [
      'a non-boolean ignore_result',
      () => withHeaders({ ignore_result: 'yes' }),
      /ignore_result must be true or false/,
    ],
    [
      'an unsupported compression',
      () => withHeaders({ compression: 'application/x-bz2' }),
      /compression "application\/x-bz2" is not supported/,
    ],
    [
      'a body that does not decompress',
      () => withHeaders({ compression: 'application/x-gzip' }),
      /body does not decompress as application\/x-gzip/,
    ],
    [
      'a content encoding other than utf-8',
      () => message({ contentEncoding: 'latin-1' }),
      /content encoding "latin-1" is not supported/,
    ],
    [
      'a protocol 1 dict without task',
      () => message({ headers: {}, bodyText: '{"id": "x", "args": []}' }),
      /no task name/,
    ],
    [
      'headers that are not an object',
      () => message({ headers: [] as never }),
      /headers are not an object/,
    ],
  ];

  it.each(malformed)(
    'rejects %s with MalformedMessageError and a precise reason',
    (_what, make, reason) => {
      let error: unknown;
      try {
        decodeTaskMessage(make());
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(MalformedMessageError);
      const { message: text, reason: bare } = error as MalformedMessageError;
      expect(bare).toMatch(reason);
      expect(text.startsWith('Rejected a malformed task message')).toBe(true);
      expect(text).not.toContain('\n');
    },
  );

  it('names the task and id in the error once they are known', () => {
    expect(() => decodeTaskMessage(message({ bodyText: '[1, {}, {}]' }))).toThrow(
      'Rejected a malformed task message (task "tasks.add", id "id-1"): args must be a list, got the number 1',
    );
  });

  it("names a protocol 1 body's task once read, the headers' own id on top", () => {
    const v1 = (body: string, headers: Record<string, JsonValue> = {}): TransportMessage => ({
      body: Buffer.from(body),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers,
      properties: {},
    });
    expect(() =>
      decodeTaskMessage(v1('{"task": "tasks.v1", "id": "b", "kwargs": []}', { id: 'h' })),
    ).toThrow(
      'Rejected a malformed task message (task "tasks.v1", id "h"): kwargs must be an object, got a list of 0 items',
    );
    expect(() => decodeTaskMessage(v1('{"task": "", "id": "b"}'))).toThrow(
      'Rejected a malformed task message (task ?, id "b"): task name must be a non-empty string',
    );
    expect(() => decodeTaskMessage(v1('7', { id: 'h' }))).toThrow(
      'Rejected a malformed task message (task ?, id "h"): body must be a protocol 1 dict',
    );
  });

  it('keeps the underlying error as the cause, and sets none where there is none', () => {
    const invalid = catchError(() => decodeTaskMessage(message({ bodyText: '[[1], {}, {' })));
    expect(invalid).toBeInstanceOf(MalformedMessageError);
    expect(invalid.cause).toBeInstanceOf(SyntaxError);
    const badEta = catchError(() => decodeTaskMessage(withHeaders({ eta: 'soon' })));
    expect(badEta.cause).toBeInstanceOf(RangeError);
    const noCause = catchError(() => decodeTaskMessage(withHeaders({ retries: -1 })));
    expect(noCause).toBeInstanceOf(MalformedMessageError);
    expect('cause' in noCause).toBe(false);
  });

  it('refuses a decompressed body over the size limit (a zip bomb costs nothing)', () => {
    const bomb = deflateSync(Buffer.from(`[["${'a'.repeat(2_000_000)}"], {}, {}]`));
    expect(bomb.length).toBeLessThan(10_000);
    const attempt = () =>
      decodeTaskMessage(withHeadersBody({ compression: 'application/x-gzip' }, bomb), {
        maxBodyBytes: 1_000_000,
      });
    expect(attempt).toThrow(/decompressed body is over the 1000000-byte limit/);
    const brotliBomb = brotliCompressSync(Buffer.from(`[["${'a'.repeat(2_000_000)}"], {}, {}]`));
    expect(() =>
      decodeTaskMessage(withHeadersBody({ compression: 'application/x-brotli' }, brotliBomb), {
        maxBodyBytes: 1_000_000,
      }),
    ).toThrow(/over the 1000000-byte limit/);
    expect(() => decodeTaskMessage(message(), { maxBodyBytes: 10 })).toThrow(
      /over the 10-byte limit/,
    );
  });
});

function withHeadersBody(headers: Record<string, JsonValue>, body: Buffer): TransportMessage {
  return { ...withHeaders(headers), body };
}

function catchError(attempt: () => unknown): Error {
  try {
    attempt();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
