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
