/**
 * Proves decodeTaskMessage reads every task message real Celery 5.2.6 and 5.6.3 put on Redis
 * and RabbitMQ, and that encodeTaskMessage + encodeEnvelope write what Celery 5.6 writes,
 * byte for byte, when given the same call.
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  MalformedMessageError,
  argsRepr,
  decodeEnvelope,
  decodeTaskMessage,
  encodeEnvelope,
  encodeTaskMessage,
  kwargsRepr,
  parseCeleryDate,
  parseCeleryJson,
  toPythonJson,
  type DecodedTaskMessage,
  type JsonObject,
  type JsonValue,
  type TaskMessageSpec,
  type TransportMessage,
} from '../../src/protocol/index.js';
import {
  STACKS,
  amqpPublishes,
  redisEnvelopes,
  transportFromPublish,
  vectorFiles,
  type CapturedEnvelope,
} from './wire-vectors.js';

/** The capture's body with kombu's datetime tags replaced by their text, as we decode them. */
function untagged(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(untagged);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 2 && typeof value.__type__ === 'string' && '__value__' in value)
      return value.__value__;
    return Object.fromEntries(keys.map((k) => [k, untagged(value[k] as JsonValue)]));
  }
  return value;
}

const isTaskEnvelope = (captured: CapturedEnvelope): boolean =>
  typeof (captured.envelope.headers as JsonObject | undefined)?.task === 'string';

/** Checks every field of a decoded message against the headers and properties Celery sent. */
function expectFieldsMatch(
  decoded: DecodedTaskMessage,
  headers: JsonObject,
  properties: JsonObject,
  body: JsonValue,
): void {
  const [args, kwargs, embed] = untagged(body) as [JsonValue[], JsonObject, JsonObject];
  expect(decoded.protocol).toBe(2);
  expect(decoded.name).toBe(headers.task);
  expect(decoded.id).toBe(headers.id);
  expect(decoded.args).toEqual(args);
  expect(decoded.kwargs).toEqual(kwargs);
  expect(decoded.embed).toEqual(embed);
  expect(decoded.retries).toBe(headers.retries);
  expect([decoded.timeLimit, decoded.softTimeLimit]).toEqual(headers.timelimit);
  expect(decoded.rootId).toBe(headers.root_id);
  expect(decoded.parentId).toBe(headers.parent_id);
  expect(decoded.groupId).toBe(headers.group);
  expect(decoded.groupIndex).toBe(headers.group_index);
  expect(decoded.shadow).toBe(headers.shadow);
  expect(decoded.origin).toBe(headers.origin);
  expect(decoded.ignoreResult).toBe(headers.ignore_result);
  expect(decoded.replyTo).toBe(properties.reply_to);
  expect(decoded.correlationId).toBe(properties.correlation_id);
  expect(decoded.eta === null).toBe(headers.eta === null);
  expect(decoded.expires === null).toBe(headers.expires === null);
  // Normalising changes nothing in a message Celery wrote: same keys, same order, same values.
  expect(Object.keys(decoded.headers)).toEqual(Object.keys(headers));
  expect(decoded.headers).toEqual(headers);
}

const RESERVED_HEADERS = new Set([
  'lang',
  'task',
  'id',
  'shadow',
  'eta',
  'expires',
  'group',
  'group_index',
  'retries',
  'timelimit',
  'root_id',
  'parent_id',
  'argsrepr',
  'kwargsrepr',
  'origin',
  'ignore_result',
  'replaced_task_nesting',
  'stamped_headers',
  'stamps',
  'compression',
]);

/** The apply_async call that produced a decoded message, as a spec for our encoder. */
function specFrom(decoded: DecodedTaskMessage): TaskMessageSpec {
  const h = decoded.headers;
  const userHeaders = Object.fromEntries(
    Object.entries(h).filter(([key]) => !RESERVED_HEADERS.has(key)),
  ) as Record<string, JsonValue>;
  const expiration = decoded.properties.expiration;
  return {
    task: decoded.name,
    id: decoded.id,
    args: decoded.args,
    kwargs: decoded.kwargs,
    eta: h.eta,
    expires: h.expires,
    // The client's clock at send time, recovered from what it wrote in `expiration`.
    now:
      h.expires !== null && expiration !== undefined
        ? parseCeleryDate(h.expires).getTime() - Number(expiration)
        : undefined,
    retries: decoded.retries,
    timeLimit: decoded.timeLimit,
    softTimeLimit: decoded.softTimeLimit,
    rootId: decoded.rootId,
    parentId: decoded.parentId,
    groupId: decoded.groupId,
    groupIndex: decoded.groupIndex,
    shadow: decoded.shadow,
    origin: h.origin,
    ignoreResult: decoded.ignoreResult,
    callbacks: decoded.embed.callbacks,
    errbacks: decoded.embed.errbacks,
    chain: decoded.embed.chain,
    chord: decoded.embed.chord,
    replyTo: decoded.replyTo ?? '',
    priority: decoded.properties.priority,
    headers: userHeaders,
    exchange: decoded.properties.delivery_info?.exchange,
    routingKey: decoded.properties.delivery_info?.routing_key,
    // Python-only reprs (tuples nested in kwargs, datetimes) are checked apart, below.
    argsrepr: h.argsrepr,
    kwargsrepr: h.kwargsrepr,
    compression: h.compression === 'application/x-gzip' ? 'gzip' : null,
  };
}

/** argsrepr/kwargsrepr Celery computed from Python values JSON cannot carry. */
const PYTHON_ONLY_REPRS: Record<string, string> = {
  'send_echo_datetime_arg.json':
    'datetime/date arguments print as datetime.datetime(...) in Python',
  'send_chunks.json': 'chunks nest Python tuples in kwargs: (1, 2), and signature args ()',
  'send_map.json': "map's signature holds its args as a Python tuple: 'args': ()",
};

function plainBody(message: TransportMessage): Buffer {
  return message.headers.compression === 'application/x-gzip'
    ? inflateSync(message.body)
    : message.body;
}

describe.each(STACKS)('%s over Redis', (stack) => {
  const files = vectorFiles(stack, 'redis');
  it.each(files)('decodes every task envelope in %s with the fields Celery wrote', (file) => {
    const envelopes = redisEnvelopes(stack, file).filter(isTaskEnvelope);
    for (const captured of envelopes) {
      const message = decodeEnvelope(captured.raw);
      expect(message.contentType).toBe(captured.envelope['content-type']);
      expect(message.headers).toEqual(captured.envelope.headers);
      const decoded = decodeTaskMessage(message);
      const properties = captured.envelope.properties as JsonObject;
      expectFieldsMatch(
        decoded,
        captured.envelope.headers as JsonObject,
        properties,
        captured.decodedBody,
      );
      // The envelope goes back out byte-identical: a restored message is pushed unchanged.
      expect(encodeEnvelope(message, properties.delivery_tag as string)).toBe(captured.raw);
    }
    if (file.startsWith('send_') && file !== 'send_group_save.json')
      expect(envelopes.length).toBeGreaterThan(0);
  });
});

describe('Celery 5.6.3 client messages re-encoded by encodeTaskMessage', () => {
  const stack = 'celery-5.6.3' as const;
  const files = vectorFiles(stack, 'redis', 'send_');

  it.each(files)('%s: same headers, properties, body and envelope as Celery', (file) => {
    for (const captured of redisEnvelopes(stack, file).filter(isTaskEnvelope)) {
      const original = decodeEnvelope(captured.raw);
      const decoded = decodeTaskMessage(original);
      const spec = specFrom(decoded);
      if (file === 'send_echo_json_types.json') {
        // 2**53 + 1 does not survive JSON.parse; the exact reader keeps it as a bigint.
        const exact = parseCeleryJson(original.body.toString('utf8'), { bigint: true }) as [
          JsonValue[],
          JsonObject,
        ];
        spec.args = exact[0];
      }
      const ours = encodeTaskMessage(spec);
      expect(Object.keys(ours.headers)).toEqual(Object.keys(original.headers));
      expect(ours.headers).toEqual(original.headers);
      const { delivery_tag: tag, ...originalProperties } = original.properties;
      expect(ours.properties).toEqual(originalProperties);
      expect(Object.keys(ours.properties)).toEqual(Object.keys(originalProperties));
      if (file === 'send_echo_datetime_arg.json') {
        // kombu's tags are decoded to plain ISO text by design, so that is what goes back out.
        const celeryBody = original.body.toString('utf8');
        expect(plainBody(ours).toString('utf8')).toBe(
          celeryBody
            .replace(
              '{"__type__": "datetime", "__value__": "2030-01-02T03:04:05.678901+00:00"}',
              '"2030-01-02T03:04:05.678901+00:00"',
            )
            .replace('{"__type__": "date", "__value__": "2030-01-02"}', '"2030-01-02"'),
        );
        continue;
      }
      expect(plainBody(ours).toString('utf8')).toBe(plainBody(original).toString('utf8'));
      if (!spec.compression) expect(encodeEnvelope(ours, tag as string)).toBe(captured.raw);
    }
  });

  it.each(files.filter((file) => !(file in PYTHON_ONLY_REPRS)))(
    '%s: argsrepr and kwargsrepr computed like Celery',
    (file) => {
      for (const captured of redisEnvelopes(stack, file).filter(isTaskEnvelope)) {
        const headers = captured.envelope.headers as JsonObject;
        const exact = parseCeleryJson(plainBody(decodeEnvelope(captured.raw)).toString('utf8'), {
          bigint: true,
        }) as [JsonValue[], JsonObject];
        // app.send_task(args=[...]) passes a list; apply_async a tuple.
        const tuple = !(headers.argsrepr as string).startsWith('[');
        expect(argsRepr(exact[0], { tuple })).toBe(headers.argsrepr);
        expect(kwargsRepr(exact[1])).toBe(headers.kwargsrepr);
      }
    },
  );

  it('keeps integers past 2**53 only through the exact reader: decodeTaskMessage rounds them', () => {
    const [captured] = redisEnvelopes(stack, 'send_echo_json_types.json');
    const decoded = decodeTaskMessage(decodeEnvelope(captured!.raw));
    expect(decoded.args[3]).toBe(9007199254740992);
    expect(decoded.args[0]).toBe('unicode: é ✓ 😀');
    expect(toPythonJson(decoded.args[0] as string)).toBe(
      '"unicode: \\u00e9 \\u2713 \\ud83d\\ude00"',
    );
  });

  it('turns kombu datetime and date tags into ISO text', () => {
    const [captured] = redisEnvelopes(stack, 'send_echo_datetime_arg.json');
    const decoded = decodeTaskMessage(decodeEnvelope(captured!.raw));
    expect(decoded.args).toEqual(['2030-01-02T03:04:05.678901+00:00']);
    expect(decoded.kwargs).toEqual({ when: '2030-01-02' });
  });

  it('reads eta and expires into Dates and the expiration property as Celery computed it', () => {
    const [captured] = redisEnvelopes(stack, 'send_eta_expires.json');
    const decoded = decodeTaskMessage(decodeEnvelope(captured!.raw));
    expect(decoded.eta?.toISOString()).toBe('2030-01-02T03:04:05.678Z');
    expect(decoded.expires?.toISOString()).toBe('2030-01-03T00:00:00.000Z');
    expect(decoded.properties.expiration).toBe('98099945187');
  });

  it('decompresses compression=gzip bodies, which kombu writes as zlib streams', () => {
    const [captured] = redisEnvelopes(stack, 'send_compression_gzip.json');
    const message = decodeEnvelope(captured!.raw);
    expect(message.body.subarray(0, 2)).toEqual(Buffer.from([0x78, 0x9c]));
    const decoded = decodeTaskMessage(message);
    expect(decoded.args).toEqual([2, 3]);
    expect(decoded.headers.compression).toBe('application/x-gzip');
  });

  it('rejects the task-sent event message on the same Redis as not a task', () => {
    const event = redisEnvelopes(stack, 'send_sent_event.json').find((c) => !isTaskEnvelope(c));
    expect(event).toBeDefined();
    expect(() => decodeTaskMessage(decodeEnvelope(event!.raw))).toThrow(MalformedMessageError);
    expect(() => decodeTaskMessage(decodeEnvelope(event!.raw))).toThrow(/no task name/);
  });
});

describe.each(STACKS)('%s over RabbitMQ', (stack) => {
  const files = vectorFiles(stack, 'amqp').filter((file) =>
    amqpPublishes(stack, file).some((p) => typeof p.applicationHeaders.task === 'string'),
  );
  it.each(files)('decodes every basic_publish task message in %s', (file) => {
    for (const publish of amqpPublishes(stack, file)) {
      if (typeof publish.applicationHeaders.task !== 'string') continue;
      const decoded = decodeTaskMessage(transportFromPublish(publish));
      expectFieldsMatch(
        decoded,
        publish.applicationHeaders,
        publish.properties,
        publish.decodedBody,
      );
      expect(decoded.properties.delivery_info).toEqual({
        exchange: publish.exchange,
        routing_key: publish.routingKey,
      });
    }
  });

  if (stack === 'celery-5.6.3') {
    it.each(files)(
      "re-encodes the task messages in %s with Celery 5.6's body, headers and properties",
      (file) => {
        for (const publish of amqpPublishes(stack, file)) {
          if (
            typeof publish.applicationHeaders.task !== 'string' ||
            file === 'send_echo_datetime_arg.json'
          )
            continue;
          const decoded = decodeTaskMessage(transportFromPublish(publish));
          const ours = encodeTaskMessage(specFrom(decoded));
          // JSON.parse reads Python's 1.0 as 1, and an integral number is written back as an int.
          expect(ours.body.toString('utf8')).toBe(publish.body.replace(/(\d)\.0(?=[,\]}])/g, '$1'));
          expect(Object.keys(ours.headers)).toEqual(Object.keys(publish.applicationHeaders));
          expect(ours.headers).toEqual(publish.applicationHeaders);
          expect(ours.contentType).toBe(publish.properties.content_type);
          expect(ours.contentEncoding).toBe(publish.properties.content_encoding);
          for (const key of [
            'correlation_id',
            'reply_to',
            'delivery_mode',
            'priority',
            'expiration',
          ] as const) {
            // queue='other' publishes without a priority on AMQP; ours always carries one.
            if (key === 'priority' && (publish.properties.priority ?? null) === null) continue;
            expect(ours.properties[key], key).toEqual(publish.properties[key]);
          }
        }
      },
    );
  }
});

it('finds the vectors in the project fixtures', () => {
  expect(vectorFiles('celery-5.6.3', 'redis', 'send_').length).toBeGreaterThanOrEqual(20);
});
