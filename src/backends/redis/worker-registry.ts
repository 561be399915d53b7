/**
 * The worker registry on Redis: a sorted set of hostnames scored by heartbeat expiry plus
 * one key per worker holding its info, expiring on its own; paused queues in a set that
 * never expires.
 */
import type { Redis } from 'ioredis';
import {
  closeConnection,
  connectChecked,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
import type { WorkerInfo, WorkerRegistry } from '../worker-registry.js';

export class RedisWorkerRegistry implements WorkerRegistry {
  private client: Redis | undefined;
  private readonly index: string;
  private readonly paused: string;

  constructor(
    private readonly config: RedisUrlConfig,
    private readonly prefix: string,
  ) {
    this.index = `${prefix}celeriac.workers`;
    this.paused = `${prefix}celeriac.paused-queues`;
  }

  private key(hostname: string): string {
    return `${this.prefix}celeriac.worker:${hostname}`;
  }

  private async redis(): Promise<Redis> {
    if (!this.client) {
      const client = openConnection(this.config, 'workers', () => undefined);
      await connectChecked(client, this.config);
      this.client = client;
    }
    return this.client;
  }

  async heartbeat(info: WorkerInfo, ttlMs: number): Promise<void> {
    const redis = await this.redis();
    await redis
      .multi()
      .set(this.key(info.hostname), JSON.stringify(info), 'PX', ttlMs)
      .zadd(this.index, info.seenAt + ttlMs, info.hostname)
      .exec();
  }

  async leave(hostname: string): Promise<void> {
    const redis = await this.redis();
    await redis.multi().del(this.key(hostname)).zrem(this.index, hostname).exec();
  }

  async online(now: number): Promise<WorkerInfo[]> {
    const redis = await this.redis();
    await redis.zremrangebyscore(this.index, '-inf', String(now));
    const hostnames = await redis.zrange(this.index, '0', '-1');
    if (hostnames.length === 0) return [];
    const values = await redis.mget(...hostnames.map((h) => this.key(h)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerInfo);
  }

  async pausedQueues(): Promise<string[]> {
    const redis = await this.redis();
    return (await redis.smembers(this.paused)).sort();
  }

  async setQueuePaused(queue: string, paused: boolean): Promise<void> {
    const redis = await this.redis();
    if (paused) await redis.sadd(this.paused, queue);
    else await redis.srem(this.paused, queue);
  }

  async close(): Promise<void> {
    if (this.client) await closeConnection(this.client);
    this.client = undefined;
  }
}
