/**
 * `celeriac/sqlite`: the embedded broker and result backend for users who build them by
 * hand (`new SqliteBroker('sqlite://./celeriac.db')`). Re-exports only; importing it
 * needs better-sqlite3, which is why the core never does.
 */
export * from './brokers/sqlite/index.js';
export * from './backends/sqlite/index.js';
// What SqliteBackend.beatStore(), workerRegistry() and flowStore() return.
export { SqliteBeatStore } from './backends/sqlite/beat-store.js';
export { SqliteWorkerRegistry } from './backends/sqlite/worker-registry.js';
export { SqliteFlowStore } from './backends/sqlite/flow-store.js';
