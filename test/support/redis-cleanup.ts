/**
 * Deletes the Redis keys a test created under its own key prefix, and nothing else: tests
 * share one Redis, so none may flush a database.
 */
import { Redis } from 'ioredis';
import { REDIS_URL } from './services.js';

export async function deleteRedisPrefix(keyPrefix: string, url = REDIS_URL): Promise<void> {
  if (!keyPrefix) throw new Error('Refusing to delete keys without a prefix.');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
