/**
 * The key-value backend base: implement `KeyValueStore` and wrap it in `KeyValueBackend`
 * to get a full result backend (results, revocations, worker registry, beat store).
 */
export { KeyValueBackend, type KeyValueBackendOptions } from './key-value-backend.js';
export type { KeyValueStore, KeyExpectation, KeyWrite } from './key-value-store.js';
export { KeyValueBeatStore } from './beat-store.js';
export { KeyValueWorkerRegistry } from './worker-registry.js';
export { KeyValueFlowStore } from './flow-store.js';
