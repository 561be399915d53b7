/**
 * Celeriac's public API. Only re-exports live here; broker and backend implementations
 * are reached through their own subpaths (`celeriac/sqlite`, `celeriac/redis`, ...).
 */
export { Celeriac, NoResultBackendError, type BulkCall } from './app/celeriac.js';
export type { CeleriacOptions } from './app/config.js';
export { Task, TaskRef, type TaskFunction, type ArgsOf, type ResultOf } from './app/task.js';
export type { TaskOptions, ApplyOptions, RetryMatcher } from './app/task-options.js';
export { AsyncResult, type GetOptions } from './app/async-result.js';
export {
  currentTask,
  Retry,
  type TaskContext,
  type Progress,
  type RetryOptions,
} from './app/task-context.js';
export type { StandardSchemaV1 } from './app/standard-schema.js';
export { Worker, type WorkerOptions } from './worker/worker.js';
export { createLineLogger, type Logger, type LogLevel } from './logger.js';
export type { Broker, BrokerCapabilities, Delivery, Consumer, PublishOptions } from './brokers/broker.js';
export type { ResultBackend } from './backends/backend.js';
// The base a key-value store becomes a full backend with (it needs no client library).
export {
  KeyValueBackend,
  type KeyValueBackendOptions,
  type KeyValueStore,
  type KeyExpectation,
  type KeyWrite,
} from './backends/key-value/index.js';
export type { TaskState, ResultMeta, JsonValue, JsonObject } from './protocol/types.js';
export { Beat, NoBeatStoreError, type BeatOptions } from './beat/beat.js';
export type { PeriodicOptions } from './beat/periodic.js';
export type { BeatStore, EntryDefinition, EntryOptions, StoredEntry } from './backends/beat-store.js';
export {
  crontab,
  every,
  clocked,
  solar,
  parseDuration,
  InvalidScheduleError,
  type Schedule,
  type ScheduleJson,
  type MissedRunPolicy,
  type SolarEvent,
} from './beat/schedules/index.js';
export * from './errors.js';
