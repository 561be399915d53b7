/**
 * Celeriac's public API. Only re-exports live here; broker and backend implementations
 * are reached through their own subpaths (`celeriac/sqlite`, `celeriac/redis`, ...).
 */
export { Celeriac, NoResultBackendError, type BulkCall } from './app/celeriac.js';
export type { CeleriacOptions, ResolvedConfig } from './app/config.js';
export {
  Task,
  TaskRef,
  type TaskFunction,
  type TaskSender,
  type ArgsOf,
  type ResultOf,
} from './app/task.js';
export type {
  TaskOptions,
  ApplyOptions,
  RetryMatcher,
  SignatureLike,
  Rate,
  RateLimitOptions,
  ConcurrencyLimitOptions,
  DebounceOptions,
  ThrottleOptions,
  SingletonOptions,
  FairnessOptions,
  FlowCallOptions,
} from './app/task-options.js';
export { AppFlow, type FlowState, type WorkerFlow } from './flow/app-flow.js';
export type { WorkerFlowState, WaitReason } from './flow/flow-control.js';
export { InvalidRateError, parseRate } from './flow/rate.js';
export type {
  FlowStore,
  FlowEntry,
  RateSpec,
  SlotLease,
  TakeResult,
  BucketState,
  DebounceResult,
  DebounceTake,
  FairItem,
} from './backends/flow-store.js';
export {
  AsyncResult,
  type ResultHandle,
  type ChildResult,
  type GetOptions,
  type TaskFailure,
  type ResultHost,
} from './app/async-result.js';
export {
  currentTask,
  Retry,
  type TaskContext,
  type Progress,
  type RetryOptions,
} from './app/task-context.js';
export type {
  StandardSchemaV1,
  StandardSchemaResult,
  StandardSchemaIssue,
} from './app/standard-schema.js';
export * from './canvas/index.js';
export { Worker, type WorkerOptions } from './worker/worker.js';
export type { PoolKind } from './worker/pools/pool.js';
export {
  createLineLogger,
  type Logger,
  type LogLevel,
  type LogFn,
  type LogFields,
} from './logger.js';
export type {
  Broker,
  BrokerCapabilities,
  Delivery,
  DeliveryHandler,
  Consumer,
  ConsumeOptions,
  PublishOptions,
  Broadcasting,
  BroadcastListener,
  BroadcastQueueSpec,
  ExchangeSpec,
  DeadLetterInfo,
  OldestMessage,
} from './brokers/broker.js';
export type { BrokerFactoryOptions } from './brokers/registry.js';
export type {
  ResultBackend,
  StoreOptions,
  Unsubscribe,
  ChordJoin,
  ChordPart,
} from './backends/backend.js';
export type { BackendFactoryOptions } from './backends/registry.js';
export type { WorkerRegistry, WorkerInfo } from './backends/worker-registry.js';
export {
  TASK_HISTORY_TYPES,
  type TaskHistory,
  type TaskHistoryEntry,
  type TaskHistoryEvent,
  type TaskHistoryType,
} from './backends/task-history.js';
export {
  TaskQueryError,
  matchesTaskQuery,
  type TaskFieldFilter,
  type TaskListing,
  type TaskListOptions,
  type TaskPage,
  type TaskQuery,
  type TaskActivity,
  type TaskTotals,
} from './backends/task-listing.js';
export type {
  TaskState,
  BuiltinState,
  ResultMeta,
  SerializedError,
  JsonValue,
  JsonObject,
  TransportMessage,
  MessageProperties,
  DeliveryInfo,
  SignatureJson,
  TaskEmbed,
} from './protocol/types.js';
// What a failed task's result.get() throws, and what a broker or backend may raise on bad input.
export { RemoteTaskError } from './protocol/result-meta.js';
export {
  MalformedMessageError,
  MalformedResultMetaError,
  UnsupportedContentTypeError,
} from './protocol/errors.js';
// The base a key-value store becomes a full backend with (it needs no client library).
export {
  KeyValueBackend,
  type KeyValueBackendOptions,
  type KeyValueStore,
  type KeyExpectation,
  type KeyWrite,
} from './backends/key-value/index.js';
export { Beat, NoBeatStoreError, type BeatOptions } from './beat/beat.js';
export type { PeriodicOptions, PeriodicBase } from './beat/periodic.js';
export type {
  BeatStore,
  EntryDefinition,
  EntryOptions,
  StoredEntry,
} from './backends/beat-store.js';
export {
  crontab,
  every,
  clocked,
  solar,
  parseDuration,
  InvalidScheduleError,
  CrontabSchedule,
  IntervalSchedule,
  ClockedSchedule,
  SolarSchedule,
  type Schedule,
  type ScheduleKind,
  type ScheduleJson,
  type CrontabJson,
  type CrontabDayMatch,
  type IntervalJson,
  type ClockedJson,
  type SolarJson,
  type CrontabOptions,
  type CrontabFields,
  type CronFieldValue,
  type IntervalOptions,
  type MissedRunPolicy,
  type SolarEvent,
} from './beat/schedules/index.js';
export * from './errors.js';
export { ControlClient, type BroadcastOptions, type NodeReply } from './app/control-client.js';
export { receiveEvents, type EventReceiverOptions } from './app/event-receiver.js';
export { BroadcastUnsupportedError } from './errors.js';
export type { CeleryEvent } from './protocol/events.js';
export type { ControlTarget, WorkerSnapshot } from './worker/control/target.js';
export type { RunningTask } from './worker/execute.js';
