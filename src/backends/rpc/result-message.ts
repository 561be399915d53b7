/**
 * A result as Celery's rpc:// backend sends it: a message to the caller's reply queue
 * through the default exchange, `correlation_id` = task id, transient (delivery_mode 1),
 * empty headers, priority 0, and the body `{"task_id", "status", "result", "traceback",
 * "children"}` in Python's JSON style (no `date_done`: Celery leaves it out). Pure.
 *
 * Must never add body keys Celery does not send: Python callers read this body as is.
 */
import type * as Amqplib from 'amqplib';
import { decodeResultMeta, toPythonJson } from '../../protocol/index.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';

export function encodeRpcResult(meta: ResultMeta): Buffer {
  const body: Record<string, JsonValue> = {
    task_id: meta.task_id,
    status: meta.status,
    result: meta.result,
    traceback: meta.traceback,
    children: meta.children,
  };
  return Buffer.from(toPythonJson(body), 'utf8');
}

export function rpcResultProperties(correlationId: string): Amqplib.Options.Publish {
  return {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {},
    deliveryMode: 1,
    priority: 0,
    correlationId,
  };
}

/**
 * A result message read back (from Celery or from us). `date_done` stays null: rpc bodies
 * do not carry it.
 * @throws MalformedResultMetaError when the body is not a result.
 */
export function decodeRpcResult(body: Buffer): ResultMeta {
  return decodeResultMeta(body.toString('utf8'));
}
