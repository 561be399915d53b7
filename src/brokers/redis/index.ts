/**
 * The Redis broker's entry point, loaded lazily by the broker registry for `redis://`,
 * `rediss://` and `unix://` URLs. Must never be imported by the core statically: only
 * users of Redis need ioredis installed.
 */
export { createRedisBroker, RedisBroker } from './broker.js';
export type { RedisBrokerOptions } from './options.js';
export type { DeadLetterEntry } from './wire.js';
export {
  parseRedisUrl,
  InvalidRedisUrlError,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
