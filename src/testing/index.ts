/**
 * `celeriac/testing`: what a user's tests import to run tasks with no server (memory://).
 * It needs no test runner; the conformance suites, which are vitest suites, live apart in
 * `celeriac/testing/conformance` so that importing these helpers never loads vitest.
 * Never imported by the library itself.
 */
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
