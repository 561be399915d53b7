/**
 * The Redis result backend's entry point, loaded lazily by the backend registry for
 * `redis://`, `rediss://` and `unix://` URLs. Must never be imported by the core statically.
 */
export { createRedisBackend, RedisBackend, type RedisBackendOptions } from './backend.js';
