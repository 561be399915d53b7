/**
 * `celeriac/postgres`: the PostgreSQL broker, result backend and beat store for users who
 * build them by hand (`new PostgresBroker('postgres://…?schema=jobs')`), and the types a
 * transactional publish names. Re-exports only; importing it needs pg, which is why the
 * core never does.
 * @example
 * import { PostgresBroker } from 'celeriac/postgres';
 * const app = new Celeriac({ broker: new PostgresBroker(process.env.DATABASE_URL!, { leaseMs: 60_000 }) });
 */
export * from './brokers/postgres/index.js';
export * from './backends/postgres/index.js';
// What PostgresBackend.beatStore() and workerRegistry() return.
export { KeyValueBeatStore, KeyValueWorkerRegistry } from './backends/key-value/index.js';
// What PostgresBroker.resultCarrier is: how the backend hands it a result to write with an ack.
export type {
  CarriedResult,
  ResultCarrier,
  ResultTarget,
} from './connections/pg/result-carrier.js';
