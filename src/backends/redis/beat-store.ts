/**
 * Beat's schedule store on Redis: one hash per entry plus a set of names, a leader key
 * holding owner, fencing token and lease end, and a token counter that only grows.
 * Atomic steps are Lua scripts (scripts/beat.ts). Must never send a task.
 */
import type { Redis } from 'ioredis';
import {
  syncCodeEntries,
  type BeatStore,
  type EntryDefinition,
  type StoredEntry,
} from '../beat-store.js';
import {
  closeConnection,
  connectChecked,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
import { runScript } from '../../connections/redis/script-runner.js';
import {
  beatClaimScript,
  beatConfirmScript,
  beatLeadScript,
  beatUpsertScript,
} from './scripts/beat.js';

export class RedisBeatStore implements BeatStore {
  private client: Redis | undefined;
  private readonly names: string;
  private readonly leaderKey: string;
  private readonly tokenKey: string;

  constructor(
    private readonly config: RedisUrlConfig,
    private readonly prefix: string,
  ) {
    this.names = `${prefix}celeriac.beat.entries`;
    this.leaderKey = `${prefix}celeriac.beat.leader`;
    this.tokenKey = `${prefix}celeriac.beat.token`;
  }

  private entryKey(name: string): string {
    return `${this.prefix}celeriac.beat.entry:${name}`;
  }

  private get redis(): Redis {
    if (!this.client) throw new Error('The beat store is not open: call open() first.');
    return this.client;
  }

  async open(): Promise<void> {
    if (this.client) return;
    const client = openConnection(this.config, 'beat', () => undefined);
    await connectChecked(client, this.config);
    this.client = client;
  }

  async list(): Promise<StoredEntry[]> {
    const names = (await this.redis.smembers(this.names)).sort();
    const rows = await Promise.all(names.map((name) => this.redis.hgetall(this.entryKey(name))));
    const entries: StoredEntry[] = [];
    names.forEach((name, i) => {
      const row = rows[i];
      if (row?.definition) entries.push(toEntry(name, row));
    });
    return entries;
  }

  async get(name: string): Promise<StoredEntry | undefined> {
    const row = await this.redis.hgetall(this.entryKey(name));
    return row.definition ? toEntry(name, row) : undefined;
  }

  async upsert(definition: EntryDefinition, now: number): Promise<void> {
    const { name, enabled, ...rest } = definition;
    await runScript(
      this.redis,
      beatUpsertScript,
      [this.entryKey(name), this.names],
      [name, JSON.stringify(rest), enabled ? '1' : '0', now],
    );
  }

  syncCode(definitions: EntryDefinition[], now: number): Promise<void> {
    return syncCodeEntries(this, definitions, now);
  }

  async remove(name: string): Promise<boolean> {
    const [[, removed]] = (await this.redis
      .multi()
      .srem(this.names, name)
      .del(this.entryKey(name))
      .exec()) as [[null, number], [null, number]];
    return removed > 0;
  }

  async setEnabled(name: string, enabled: boolean, now: number): Promise<boolean> {
    const key = this.entryKey(name);
    if (!(await this.redis.exists(key))) return false;
    if (!enabled) {
      await this.redis.hset(key, 'enabled', '0');
      return true;
    }
    // Re-enabling restarts the schedule at `now`: slots that passed while disabled never run.
    if ((await this.redis.hget(key, 'enabled')) === '0') {
      await this.redis
        .multi()
        .hset(key, 'enabled', '1', 'created_at', String(now))
        .hdel(key, 'last_run_at')
        .exec();
    }
    return true;
  }

  async requestRunNow(name: string, now: number): Promise<boolean> {
    const key = this.entryKey(name);
    if (!(await this.redis.exists(key))) return false;
    await this.redis.hset(key, 'run_now_at', String(now));
    return true;
  }

  async lead(owner: string, ttlMs: number, now: number): Promise<number | null> {
    const token = await runScript(
      this.redis,
      beatLeadScript,
      [this.leaderKey, this.tokenKey],
      [owner, Math.max(1, Math.round(ttlMs)), Math.round(now)],
    );
    return typeof token === 'number' ? token : null;
  }

  async resign(owner: string): Promise<void> {
    const current = await this.redis.get(this.leaderKey);
    if (current?.startsWith(`${owner}|`)) await this.redis.del(this.leaderKey);
  }

  async claimRun(
    name: string,
    slot: number | null,
    owner: string,
    token: number,
    taskId: string,
  ): Promise<boolean> {
    const claimed = await runScript(
      this.redis,
      beatClaimScript,
      [this.leaderKey, this.entryKey(name)],
      [`${owner}|${token}`, slot === null ? '' : slot, taskId],
    );
    return claimed === 1;
  }

  async confirmRun(name: string, taskId: string, owner: string, token: number): Promise<boolean> {
    const confirmed = await runScript(
      this.redis,
      beatConfirmScript,
      [this.leaderKey, this.entryKey(name)],
      [`${owner}|${token}`, taskId],
    );
    return confirmed === 1;
  }

  async close(): Promise<void> {
    if (this.client) await closeConnection(this.client);
    this.client = undefined;
  }
}

function toEntry(name: string, row: Record<string, string>): StoredEntry {
  const definition = JSON.parse(row.definition ?? '{}') as Omit<
    EntryDefinition,
    'name' | 'enabled'
  >;
  const num = (value: string | undefined) => (value === undefined ? null : Number(value));
  return {
    ...definition,
    name,
    enabled: row.enabled === '1',
    createdAt: Number(row.created_at ?? 0),
    lastRunAt: num(row.last_run_at),
    totalRuns: Number(row.total_runs ?? 0),
    runNowAt: num(row.run_now_at),
    lastTaskId: row.last_task_id ?? null,
    pendingTaskId: row.pending_task_id ?? null,
    pendingSlot: num(row.pending_slot),
  };
}
