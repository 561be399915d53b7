/**
 * `celeriac/testing/conformance`: the suites every broker, backend, beat store and flow store
 * must pass, built-in or third-party. They are vitest suites, so this entry needs vitest (an
 * optional peer dependency); `celeriac/testing` does not.
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
export {
  describeFlowStoreConformance,
  type FlowStoreConformanceContext,
  type FlowStoreHarness,
  type FlowStoreHarnessFactory,
} from './flow-store-conformance.js';
