/**
 * `celeriac/redis`: the Redis broker and result backend for users who build them
 * themselves (their own options, their own URL handling). Loading this entry loads
 * ioredis; the core never imports it.
 * @example
 * import { RedisBroker, RedisBackend } from 'celeriac/redis';
 * const app = new Celeriac({ broker: new RedisBroker('redis://localhost:6379/0', { leaseMs: 60_000 }) });
 */
export {
  createRedisBroker,
  RedisBroker,
  parseRedisUrl,
  InvalidRedisUrlError,
} from './brokers/redis/index.js';
export type { RedisBrokerOptions, DeadLetterEntry, RedisUrlConfig } from './brokers/redis/index.js';
export { createRedisBackend, RedisBackend } from './backends/redis/index.js';
export type { RedisBackendOptions } from './backends/redis/index.js';
// What RedisBackend.beatStore() and workerRegistry() return.
export { RedisBeatStore } from './backends/redis/beat-store.js';
export { RedisWorkerRegistry } from './backends/redis/worker-registry.js';
export { RedisFlowStore } from './backends/redis/flow-store.js';
// RedisBroker.resultCarriers: how a Redis backend of the same app rides results on the consumer's calls.
export type {
  ResultCarriers,
  ResultCarrier,
  CarriedWrite,
  ResultWrite,
} from './connections/redis/result-carrier.js';
