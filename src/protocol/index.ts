/**
 * The protocol module's public surface: Celery's wire formats, encoded and decoded without
 * I/O. Brokers, backends and the worker import from here; nothing here imports from them.
 */
export * from './types.js';
export {
  MalformedMessageError,
  MalformedResultMetaError,
  UnsupportedContentTypeError,
} from './errors.js';
export {
  parseCeleryJson,
  pythonJsonString,
  toPythonJson,
  type ParseOptions,
  type WideJsonValue,
} from './json.js';
export {
  REPR_MAX_LEVELS,
  REPR_MAX_SIZE,
  argsRepr,
  kwargsRepr,
  pythonRepr,
  pythonStringRepr,
  saferepr,
  type SafereprOptions,
} from './repr.js';
export { pythonFloatRepr } from './python-number.js';
export { formatCeleryDate, parseCeleryDate } from './time.js';
export {
  DEFAULT_MAX_BODY_BYTES,
  JSON_CONTENT_TYPE,
  UTF8_CONTENT_ENCODING,
  decodeTaskMessage,
  encodeTaskMessage,
  type CompressionName,
  type DecodeOptions,
  type DecodedTaskMessage,
  type TaskMessageSpec,
} from './task-message.js';
export { decodeEnvelope, encodeEnvelope } from './kombu-envelope.js';
export {
  RemoteTaskError,
  buildResultMeta,
  decodeResultMeta,
  deserializeError,
  encodeResultMeta,
  formatTraceback,
  serializeError,
  type CeleryExceptionIdentity,
  type ResultMetaInput,
} from './result-meta.js';
export {
  CONTROL_NAMESPACE,
  CONTROL_QUEUE_EXPIRES_MS,
  CONTROL_QUEUE_TTL_MS,
  LamportClock,
  MalformedControlMessageError,
  decodeControlReply,
  decodeControlRequest,
  encodeControlReply,
  encodeControlRequest,
  errorReply,
  isAddressedTo,
  okReply,
  pidboxExchange,
  pidboxQueue,
  replyExchange,
  replyQueue,
  type ControlReply,
  type ControlRequest,
  type ControlRequestSpec,
  type ReplyAddress,
} from './control.js';
export {
  EVENT_EXCHANGE,
  EVENT_QUEUE_EXPIRES_MS,
  EVENT_QUEUE_PREFIX,
  EVENT_QUEUE_TTL_MS,
  WORKER_HEARTBEAT_SECONDS,
  buildEvent,
  decodeEventMessage,
  encodeEventMessage,
  eventGroup,
  eventRoutingKey,
  exceptionRepr,
  heartbeatEventFields,
  receivedEventFields,
  resultRepr,
  sentEventFields,
  utcOffsetHours,
  type CeleryEvent,
  type EventOrigin,
  type ReceivedFields,
  type SentFields,
  type WorkerHeartbeatFields,
} from './events.js';
