/**
 * `celeriac/testing`: what a user's tests and a third-party driver's tests import. The
 * conformance suites every broker and backend must pass (they need vitest), and helpers
 * that run tasks with no server (memory://). Never imported by the library itself.
 */
export {
  describeBrokerConformance,
  makeMessage,
  idOf,
  Inbox,
  consumeInto,
  type BrokerConformanceContext,
  type BrokerHarness,
  type BrokerHarnessFactory,
} from './broker-conformance.js';
export {
  describeBackendConformance,
  makeMeta,
  type BackendConformanceContext,
  type BackendHarness,
  type BackendHarnessFactory,
} from './backend-conformance.js';
export {
  describeBeatStoreConformance,
  type BeatStoreConformanceContext,
  type BeatStoreHarness,
  type BeatStoreHarnessFactory,
} from './beat-store-conformance.js';
export { sleep, waitFor } from './wait.js';
export {
  MemoryBroker,
  type MemoryDelivery,
  type MemoryConsumer,
} from '../brokers/memory/memory-broker.js';
export type {
  MemoryBrokerStore,
  StoredMessage,
  StoreConsumer,
} from '../brokers/memory/memory-store.js';
export type { DeadLetter } from '../brokers/memory/memory-store.js';
export { runTask, type RunTaskOptions } from './run-task.js';
export { drain, type DrainOptions, type DrainReport } from './drain.js';
export { DrainNeedsMemoryBrokerError, DrainTimeoutError } from './errors.js';
export {
  describeFlowStoreConformance,
  type FlowStoreConformanceContext,
  type FlowStoreHarness,
  type FlowStoreHarnessFactory,
} from './flow-store-conformance.js';
