/**
 * The Redis result backend, in Celery's layout: `celery-task-meta-<id>` written with its
 * expiry (one day by default) and published on the channel of the same name; waiters
 * share one subscriber connection.
 * Revocations (ours: a zset and a channel) reach every worker. Must never poll for a
 * result: pushes come from pub/sub, and after a reconnect each waited key is read once.
 */
import type { Redis } from 'ioredis';
import type { Broker } from '../../brokers/broker.js';
import type { ChordJoin, ChordPart, ResultBackend, StoreOptions, Unsubscribe } from '../backend.js';
import type { BackendFactoryOptions } from '../registry.js';
import {
  closeConnection,
  connectChecked,
  openConnection,
  parseRedisUrl,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
import { decodeResultMeta, encodeResultMeta } from '../../protocol/result-meta.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';
import { parseCeleryJson, toPythonJson } from '../../protocol/json.js';
import { runScript } from '../../connections/redis/script-runner.js';
import { chordPartScript } from './scripts/chord.js';
import { ResultKeyspace } from './keys.js';
import { Revocations } from './revocations.js';
import { SharedSubscriber } from './shared-subscriber.js';
import { StoreBatcher } from './store-batcher.js';
import { carriersOf, serverIdentity } from '../../connections/redis/result-carrier.js';
import { RedisBeatStore } from './beat-store.js';
import { RedisFlowStore } from './flow-store.js';
import { RedisWorkerRegistry } from './worker-registry.js';
import { RedisTaskListing } from './task-listing.js';
import type { TaskListing } from '../task-listing.js';
import { TaskIndexer } from './task-indexer.js';
import { indexKeysOf } from './task-listing.js';
import { RedisTaskHistory } from './task-history.js';
import type { TaskHistory } from '../task-history.js';

export interface RedisBackendOptions extends BackendFactoryOptions {
  /** Prefix for every key and channel (Celery's `global_keyprefix`). Also `?keyPrefix=`. @default '' */
  keyPrefix?: string | undefined;
  /** How long results are kept, ms. @default 86 400 000 (Celery's `result_expires`, one day) */
  resultExpiresMs?: number | undefined;
}

const DAY_MS = 86_400_000;

export class RedisBackend implements ResultBackend {
  readonly kind = 'redis';
  readonly keys: ResultKeyspace;
  private readonly config: RedisUrlConfig;
  private readonly client: Redis;
  private readonly subscriber: SharedSubscriber;
  private readonly revocations: Revocations;
  private readonly stores: StoreBatcher;
  private readonly expiresMs: number;
  private readonly indexer: TaskIndexer | undefined;
  private connecting: Promise<void> | undefined;
  /** Set once the first connect succeeded (ioredis reconnects on its own after that). */
  private connected = false;

  /** @example new RedisBackend('redis://localhost:6379/1') */
  constructor(url: string, options: RedisBackendOptions = {}) {
    this.config = parseRedisUrl(url);
    this.keys = new ResultKeyspace(options.keyPrefix ?? this.config.keyPrefix ?? '');
    this.expiresMs = options.resultExpiresMs ?? DAY_MS;
    const ignore = (): void => undefined;
    this.client = openConnection(this.config, 'backend', ignore, { autoPipelining: true });
    this.subscriber = new SharedSubscriber(
      this.config,
      ignore,
      (channels) => void this.resync(channels),
      () => this.revocations.invalidate(),
    );
    this.revocations = new Revocations(this.client, this.subscriber, this.keys);
    this.stores = new StoreBatcher(this.client);
    if (options.resultExtended)
      this.indexer = new TaskIndexer(this.client, this.keys, this.expiresMs);
  }

  /**
   * Result writes ride with the fetch calls of `broker`'s consumers when it is a Redis
   * broker on this backend's server and database: one round trip fewer per batch.
   */
  attachBroker(broker: Broker): void {
    const carriers = carriersOf(broker);
    this.stores.carriers =
      carriers?.server === serverIdentity(this.config.connection) ? carriers : undefined;
  }

  /** Beat's schedules, lease and run claims, on the same Redis under the same key prefix. */
  beatStore(): RedisBeatStore {
    return new RedisBeatStore(this.config, this.keys.prefix);
  }

  /** Live workers' heartbeats, on the same Redis under the same key prefix. */
  workerRegistry(): RedisWorkerRegistry {
    return new RedisWorkerRegistry(this.config, this.keys.prefix);
  }

  /** Flow control's buckets, leases and claims, on the same Redis under the same key prefix. */
  flowStore(): RedisFlowStore {
    return new RedisFlowStore(this.config, this.keys.prefix);
  }

  connect(): Promise<void> {
    this.connecting ??= connectChecked(this.client, this.config).then(
      () => {
        this.connected = true;
      },
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  /** Not async: a worker stores a result per task, and each extra promise costs it. */
  store(meta: ResultMeta, options: StoreOptions = {}): Promise<void> {
    if (!this.connected) return this.connect().then(() => this.store(meta, options));
    const expiresMs = Math.max(1, Math.round(options.expiresMs ?? this.expiresMs));
    const stored = this.stores.store(
      this.keys.meta(meta.task_id),
      expiresMs,
      encodeResultMeta(meta),
    );
    if (!this.indexer) return stored;
    return Promise.all([stored, this.indexer.index(meta)]).then(() => undefined);
  }

  /** Stored tasks by filter, in cursor pages: those stored while `resultExtended` was on. */
  taskListing(): TaskListing {
    return new RedisTaskListing(
      async () => {
        await this.connect();
        return this.client;
      },
      this.keys,
      this.expiresMs,
    );
  }

  /** Each task's events: a capped list per task, expiring with its result. */
  taskHistory(): TaskHistory {
    return new RedisTaskHistory(async () => {
      await this.connect();
      return this.client;
    }, this.keys);
  }

  async get(taskId: string): Promise<ResultMeta | undefined> {
    await this.connect();
    const text = await this.client.get(this.keys.meta(taskId));
    return text === null ? undefined : decodeResultMeta(text);
  }

  async subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    await this.connect();
    return this.subscriber.subscribe(this.keys.meta(taskId), (text) => {
      const meta = safeDecode(text);
      if (meta) listener(meta);
    });
  }

  /**
   * The chord counters in Celery's Redis layout (`celery-taskset-meta-<gid>.j/.t/.s`), so a
   * chord whose header runs on Python workers and whose body on ours (or the reverse) joins.
   */
  chordJoin(): ChordJoin {
    const seconds = Math.max(1, Math.ceil(this.expiresMs / 1000));
    return {
      setChordSize: async (groupId: string, size: number) => {
        await this.connect();
        await this.client.set(this.keys.chord(groupId)[2], String(size), 'EX', seconds);
      },
      addChordPart: async (groupId: string, part: ChordPart) => {
        await this.connect();
        const member = toPythonJson([1, part.taskId, part.state, part.result]);
        const score = part.index === null ? '+inf' : String(part.index);
        const reply = (await runScript(this.client, chordPartScript, this.keys.chord(groupId), [
          part.taskId,
          score,
          member,
          seconds,
        ])) as [number, string[]?];
        if (reply[0] === 0 || !reply[1]) return null;
        return reply[1].map(decodeChordPart);
      },
      clearChord: async (groupId: string) => {
        await this.connect();
        await this.client.del(...this.keys.chord(groupId));
      },
      claimOnce: async (key: string, token: string) => {
        await this.connect();
        const at = this.keys.once(key);
        if ((await this.client.set(at, token, 'EX', seconds, 'NX')) === 'OK') return token;
        return (await this.client.get(at)) ?? token;
      },
    };
  }

  /** Celery's `GroupResult.save()`: SETEX and PUBLISH of `celery-taskset-meta-<gid>`. */
  async saveGroup(groupId: string, value: JsonValue, options: StoreOptions = {}): Promise<void> {
    await this.connect();
    const key = this.keys.group(groupId);
    const text = toPythonJson(value);
    const ms = Math.max(1, Math.round(options.expiresMs ?? this.expiresMs));
    await this.client.multi().set(key, text, 'PX', ms).publish(key, text).exec();
  }

  async getGroup(groupId: string): Promise<JsonValue | undefined> {
    await this.connect();
    const text = await this.client.get(this.keys.group(groupId));
    return text === null ? undefined : parseCeleryJson(text);
  }

  async forget(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.connect();
    const keys = taskIds.map((id) => this.keys.meta(id));
    if (this.indexer) {
      // Out of every index the stored meta put them in, so index counts stay exact.
      const texts = await this.client.mget(...keys);
      const multi = this.client.multi();
      texts.forEach((text, i) => {
        const meta = text === null ? undefined : safeDecode(text);
        if (meta) for (const key of indexKeysOf(this.keys, meta)) multi.zrem(key, taskIds[i]!);
      });
      await multi.exec();
    }
    await this.client.del(...keys, ...taskIds.map((id) => this.keys.taskEvents(id)));
    await this.client.zrem(this.keys.taskIndex, ...taskIds);
  }

  async revoke(
    taskIds: string[],
    options: { terminate?: boolean; expiresMs?: number } = {},
  ): Promise<void> {
    if (taskIds.length === 0) return;
    await this.connect();
    await this.revocations.revoke(
      taskIds,
      options.terminate ?? false,
      options.expiresMs ?? this.expiresMs,
    );
  }

  /** From the in-memory mirror while `onRevoke` listens (no round trip), else one ZSCORE. */
  isRevoked(taskId: string): boolean | Promise<boolean> {
    return (
      this.revocations.isRevoked(taskId) ??
      this.connect().then(() => this.revocations.askRedis(taskId))
    );
  }

  /** Also keeps an in-memory mirror of the revoked set while listened to: `isRevoked()` then costs no round trip. */
  async onRevoke(listener: (taskId: string, terminate: boolean) => void): Promise<Unsubscribe> {
    await this.connect();
    return this.revocations.listen(listener);
  }

  async close(): Promise<void> {
    await this.subscriber.close();
    await closeConnection(this.client);
  }

  /** After a reconnect: re-read the revoked set and each waited meta, whose pushes may have been missed. */
  private async resync(channels: string[]): Promise<void> {
    if (channels.includes(this.keys.revokeChannel)) await this.revocations.reload();
    for (const channel of channels) {
      if (this.keys.taskIdOf(channel) === undefined) continue;
      const text = await this.client.get(channel).catch(() => null);
      if (text !== null) this.subscriber.deliver(channel, text);
    }
  }
}

/** A `.j` member as Celery writes it: `[1, task_id, state, result]`. */
function decodeChordPart(member: string): ChordPart {
  const [, taskId, state, result] = parseCeleryJson(member) as [number, string, string, JsonValue];
  return { taskId, index: null, state, result };
}

function safeDecode(text: string): ResultMeta | undefined {
  try {
    return decodeResultMeta(text);
  } catch {
    return undefined;
  }
}

/** The registry's factory for `redis://`, `rediss://` and `unix://` result-backend URLs. */
export function createRedisBackend(url: string, options: RedisBackendOptions = {}): RedisBackend {
  return new RedisBackend(url, options);
}
