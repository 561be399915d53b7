/**
 * The shapes of Celery's protocol v2 as they travel: task headers, message properties,
 * the body triple and the broker-neutral transport message every broker moves.
 * Types only: no I/O and no behaviour live here.
 */

/** Any value that survives a JSON round trip. Task arguments and results are JSON. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A serialised signature as Celery nests it in `callbacks`, `errbacks`, `chain` and `chord`. */
export interface SignatureJson {
  task: string;
  args: JsonValue[];
  kwargs: JsonObject;
  options: JsonObject;
  subtask_type: string | null;
  immutable: boolean;
  [extra: string]: JsonValue;
}

/** The third element of a v2 body: the workflow embedded in the message. */
export interface TaskEmbed {
  callbacks: SignatureJson[] | null;
  errbacks: SignatureJson[] | null;
  chain: SignatureJson[] | null;
  chord: SignatureJson | null;
}

/** Protocol v2 task headers. Readers accept unknown keys (5.3+ adds stamps) and keep them. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  /** ISO 8601; the task must not start before it. */
  eta: string | null;
  /** ISO 8601; the task is not run after it. */
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** `[hard, soft]` in seconds, as Celery orders them. */
  timelimit: [number | null, number | null];
  root_id: string | null;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  replaced_task_nesting?: number;
  stamped_headers?: string[] | null;
  stamps?: JsonObject;
  [extra: string]: JsonValue | undefined;
}

export interface DeliveryInfo {
  exchange: string;
  routing_key: string;
  [extra: string]: JsonValue;
}

/** AMQP-style message properties, as kombu names them. */
export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  /** 2 = persistent, 1 = transient. */
  delivery_mode?: number;
  priority?: number;
  /** Milliseconds until the broker may drop the message, as a string (AMQP's form). */
  expiration?: string;
  delivery_info?: DeliveryInfo;
  body_encoding?: string;
  delivery_tag?: string;
  [extra: string]: JsonValue | undefined;
}

/**
 * What a broker moves: opaque body bytes plus headers and properties. Brokers never look
 * inside `body`; only `protocol/` turns it into a task.
 */
export interface TransportMessage {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, JsonValue | undefined>;
  properties: MessageProperties;
}

/** The states Celery defines; tasks may also set custom states such as `PROGRESS`. */
export type BuiltinState =
  'PENDING' | 'RECEIVED' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED';
export type TaskState = BuiltinState | (string & {});

export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);

/** How Celery serialises an exception inside a result meta. */
export interface SerializedError {
  exc_type: string;
  exc_message: JsonValue[];
  exc_module: string;
  [extra: string]: JsonValue;
}

/** A result meta as the Redis / key-value backends store it (`celery-task-meta-<id>`). */
export interface ResultMeta {
  status: TaskState;
  result: JsonValue;
  traceback: string | null;
  children: JsonValue[];
  date_done: string | null;
  task_id: string;
  group_id?: string | null;
  parent_id?: string | null;
  /** `result_extended` fields. */
  name?: string | null;
  args?: JsonValue[] | null;
  kwargs?: JsonObject | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  date_started?: string | null;
  [extra: string]: JsonValue | undefined;
}
