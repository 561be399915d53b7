/**
 * A full result backend derived from the few primitives of a key-value store (Celery's
 * KeyValueStoreBackend idea): results stored with a time to live under Celery's
 * `celery-task-meta-<id>` keys and pushed on a channel per task, revocations, the worker
 * registry and beat's store. A new key-value backend implements `KeyValueStore` and
 * nothing else. Must never import a store's client: the store is handed in.
 */
import type { ChordJoin, ResultBackend, StoreOptions, Unsubscribe } from '../backend.js';
import type { BeatStore } from '../beat-store.js';
import type { WorkerRegistry } from '../worker-registry.js';
import type { FlowStore } from '../flow-store.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';
import { keyValueChordJoin } from './chord-join.js';
import type { KeyValueStore } from './key-value-store.js';
import { KeyValueRevocations } from './revocations.js';
import { KeyValueWorkerRegistry } from './worker-registry.js';
import { KeyValueBeatStore } from './beat-store.js';
import { KeyValueFlowStore } from './flow-store.js';
import { KeyValueTaskHistory } from './task-history.js';
import type { TaskHistory } from '../task-history.js';

export interface KeyValueBackendOptions {
  /** Prefix for every key and channel, for isolation. @default '' */
  keyPrefix?: string | undefined;
  /** Milliseconds results are kept when `store()` names no expiry. @default 86 400 000 (one day, as Celery) */
  resultExpiresMs?: number | undefined;
  /** Milliseconds a revocation holds when `revoke()` names none. @default 10 800 000 (three hours, Celery's REVOKE_EXPIRES) */
  revokeExpiresMs?: number | undefined;
}

const DAY_MS = 86_400_000;
const REVOKE_EXPIRES_MS = 3 * 3_600_000;

export class KeyValueBackend implements ResultBackend {
  private readonly prefix: string;
  private readonly resultExpiresMs: number;
  private readonly revokeExpiresMs: number;
  private readonly revocations: KeyValueRevocations;

  constructor(
    readonly kind: string,
    protected readonly kv: KeyValueStore,
    options: KeyValueBackendOptions = {},
  ) {
    this.prefix = options.keyPrefix ?? '';
    this.resultExpiresMs = options.resultExpiresMs ?? DAY_MS;
    this.revokeExpiresMs = options.revokeExpiresMs ?? REVOKE_EXPIRES_MS;
    this.revocations = new KeyValueRevocations(
      kv,
      `${this.prefix}celeriac.revoked.`,
      `${this.prefix}celeriac.revoke-channel`,
    );
  }

  private metaKey(taskId: string): string {
    return `${this.prefix}celery-task-meta-${taskId}`;
  }

  connect(): Promise<void> {
    return this.kv.connect();
  }

  /** The key, text and time to live `store` writes for a meta. */
  protected resultEntry(
    meta: ResultMeta,
    options: StoreOptions,
  ): { key: string; text: string; ttlMs: number } {
    return {
      key: this.metaKey(meta.task_id),
      text: JSON.stringify(meta),
      ttlMs: options.expiresMs ?? this.resultExpiresMs,
    };
  }

  async store(meta: ResultMeta, options: StoreOptions = {}): Promise<void> {
    const { key, text, ttlMs } = this.resultEntry(meta, options);
    if (this.kv.setAndPublish) return this.kv.setAndPublish(key, text, { ttlMs });
    await this.kv.set(key, text, { ttlMs });
    await this.kv.publish(key, text);
  }

  async get(taskId: string): Promise<ResultMeta | undefined> {
    const text = await this.kv.get(this.metaKey(taskId));
    return text === undefined ? undefined : (JSON.parse(text) as ResultMeta);
  }

  subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    return this.kv.subscribe(this.metaKey(taskId), (text) =>
      listener(JSON.parse(text) as ResultMeta),
    );
  }

  async forget(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.kv.delete(taskIds.map((id) => this.metaKey(id)));
    await this.taskHistory().forget(taskIds);
  }

  /** Each task's events, one key per event, kept as its results are (task-history.ts). */
  taskHistory(): TaskHistory {
    return new KeyValueTaskHistory(this.kv, `${this.prefix}celeriac.task-events:`);
  }

  revoke(
    taskIds: string[],
    options: { terminate?: boolean; expiresMs?: number } = {},
  ): Promise<void> {
    return this.revocations.revoke(
      taskIds,
      options.terminate ?? false,
      options.expiresMs ?? this.revokeExpiresMs,
    );
  }

  /** Answered from a complete in-memory mirror while `onRevoke` listens, else asked of the store. */
  isRevoked(taskId: string): boolean | Promise<boolean> {
    return this.revocations.isRevoked(taskId);
  }

  onRevoke(listener: (taskId: string, terminate: boolean) => void): Promise<Unsubscribe> {
    return this.revocations.listen(listener);
  }

  /** The chord join on the store's compare-and-set and counter (chord-join.ts). */
  chordJoin(): ChordJoin {
    return keyValueChordJoin(this.kv, this.prefix, this.resultExpiresMs);
  }

  /** Celery's `celery-taskset-meta-<id>`, kept as its results are. */
  async saveGroup(groupId: string, value: JsonValue, options: StoreOptions = {}): Promise<void> {
    const key = `${this.prefix}celery-taskset-meta-${groupId}`;
    await this.kv.set(key, JSON.stringify(value), {
      ttlMs: options.expiresMs ?? this.resultExpiresMs,
    });
  }

  async getGroup(groupId: string): Promise<JsonValue | undefined> {
    const text = await this.kv.get(`${this.prefix}celery-taskset-meta-${groupId}`);
    return text === undefined ? undefined : (JSON.parse(text) as JsonValue);
  }

  beatStore(): BeatStore {
    return new KeyValueBeatStore(this.kv, `${this.prefix}celeriac.beat.`);
  }

  workerRegistry(): WorkerRegistry {
    return new KeyValueWorkerRegistry(
      this.kv,
      `${this.prefix}celeriac.worker.`,
      `${this.prefix}celeriac.paused-queues`,
    );
  }

  flowStore(): FlowStore {
    return new KeyValueFlowStore(this.kv, `${this.prefix}celeriac.flow.`);
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}
