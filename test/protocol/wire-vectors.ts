/**
 * Loads the captured Celery wire vectors (test/fixtures/celery-wire, see its README) and
 * pulls out what the protocol tests compare against: every kombu envelope a Redis client or
 * worker pushed, every AMQP basic_publish, every stored result meta. Read-only; the
 * fixtures ship with the project, so a missing file is an error, never a skip.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  JsonObject,
  JsonValue,
  MessageProperties,
  TransportMessage,
} from '../../src/protocol/types.js';

export const VECTORS_DIR = fileURLToPath(new URL('../fixtures/celery-wire', import.meta.url));
export const STACKS = ['celery-5.2.6', 'celery-5.6.3'] as const;
export type Stack = (typeof STACKS)[number];

export function vectorFiles(stack: Stack, broker: 'redis' | 'amqp', prefix = ''): string[] {
  return readdirSync(path.join(VECTORS_DIR, stack, broker))
    .filter((name) => name.endsWith('.json') && name.startsWith(prefix))
    .sort();
}

const cache = new Map<string, JsonObject>();

export function loadVector(stack: Stack, broker: 'redis' | 'amqp', file: string): JsonObject {
  const key = `${stack}/${broker}/${file}`;
  let data = cache.get(key);
  if (!data) {
    data = JSON.parse(readFileSync(path.join(VECTORS_DIR, key), 'utf8')) as JsonObject;
    cache.set(key, data);
  }
  return data;
}

export interface CapturedEnvelope {
  /** The exact envelope text kombu pushed. */
  raw: string;
  /** The capture's own decoding of it (independent of our code). */
  envelope: JsonObject;
  /** The capture's decoding of the body. */
  decodedBody: JsonValue;
  command: string;
  queue: string;
}

/** Every envelope pushed onto a list (LPUSH/RPUSH) or fanned out (PUBLISH) in a Redis vector file, in order. */
export function redisEnvelopes(stack: Stack, file: string): CapturedEnvelope[] {
  const data = loadVector(stack, 'redis', file);
  const out: CapturedEnvelope[] = [];
  for (const command of data.redis_commands as JsonObject[]) {
    const cmd = command.cmd as string[];
    const decoded = command.decoded_envelopes as JsonObject[] | undefined;
    if (!['LPUSH', 'RPUSH', 'PUBLISH'].includes(cmd[0] as string) || !decoded) continue;
    cmd.slice(2).forEach((raw, i) => {
      const entry = decoded[i];
      if (!entry) return;
      out.push({
        raw,
        envelope: entry.envelope as JsonObject,
        decodedBody: entry.decoded_body as JsonValue,
        command: cmd[0] as string,
        queue: cmd[1] as string,
      });
    });
  }
  return out;
}

export interface CapturedPublish {
  exchange: string;
  routingKey: string;
  /** The body text py-amqp sent. */
  body: string;
  properties: JsonObject;
  applicationHeaders: JsonObject;
  decodedBody: JsonValue;
}

/** Every basic_publish (client and worker side) in an AMQP vector file. */
export function amqpPublishes(stack: Stack, file: string): CapturedPublish[] {
  const data = loadVector(stack, 'amqp', file);
  const ops = [
    ...((data.client_amqp_ops as JsonObject[] | undefined) ?? []),
    ...((data.worker_amqp_ops as JsonObject[] | undefined) ?? []),
  ];
  return ops
    .filter((op) => op.kind === 'basic_publish')
    .map((op) => {
      const properties = op.properties as JsonObject;
      return {
        exchange: op.exchange as string,
        routingKey: op.routing_key as string,
        body: op.body as string,
        properties,
        applicationHeaders: (properties.application_headers as JsonObject | undefined) ?? {},
        decodedBody: op.decoded_body as JsonValue,
      };
    });
}

/** A basic_publish as an AMQP broker would hand it to the protocol layer. */
export function transportFromPublish(publish: CapturedPublish): TransportMessage {
  const {
    application_headers: _headers,
    content_type,
    content_encoding,
    ...rest
  } = publish.properties;
  const properties: MessageProperties = {
    ...(rest as MessageProperties),
    delivery_info: { exchange: publish.exchange, routing_key: publish.routingKey },
  };
  return {
    body: Buffer.from(publish.body, 'utf8'),
    contentType: content_type as string,
    contentEncoding: content_encoding as string,
    headers: publish.applicationHeaders,
    properties,
  };
}

export interface CapturedMeta {
  /** The exact JSON text stored with SETEX. */
  raw: string;
  key: string;
}

/** Every `celery-task-meta-*` value a worker stored (SETEX) in a Redis vector file. */
export function storedMetas(stack: Stack, file: string): CapturedMeta[] {
  const data = loadVector(stack, 'redis', file);
  const out: CapturedMeta[] = [];
  for (const command of data.redis_commands as JsonObject[]) {
    const cmd = command.cmd as string[];
    if (cmd[0] === 'SETEX' && cmd[1]?.startsWith('celery-task-meta-'))
      out.push({ key: cmd[1], raw: cmd[3] as string });
  }
  return out;
}
