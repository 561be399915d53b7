/**
 * Flow control's store on Redis, under the backend's key prefix: a hash per bucket, a
 * sorted set of leases per slot limit, a string per claim, each step a Lua script
 * (scripts/flow.ts). Keys expire once they mean nothing, so per-key limits do not pile up.
 */
import type { Redis } from 'ioredis';
import {
  closeConnection,
  connectChecked,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
import { runScript } from '../../connections/redis/script-runner.js';
import type { FlowEntry, FlowStore, RateSpec, SlotLease, TakeResult } from '../flow-store.js';
import {
  flowAcquireScript,
  flowClaimScript,
  flowRenewScript,
  flowTakeScript,
  flowUnclaimScript,
} from './scripts/flow.js';

type Kind = FlowEntry['kind'];
const KINDS: Kind[] = ['bucket', 'slots', 'claim'];

export class RedisFlowStore implements FlowStore {
  private client: Redis | undefined;
  private opening: Promise<Redis> | undefined;
  private readonly base: string;

  constructor(
    private readonly config: RedisUrlConfig,
    prefix: string,
  ) {
    this.base = `${prefix}celeriac.flow.`;
  }

  private key(kind: Kind, key: string): string {
    return `${this.base}${kind}:${key}`;
  }

  private redis(): Promise<Redis> {
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= (async () => {
      const client = openConnection(this.config, 'flow', () => undefined);
      await connectChecked(client, this.config);
      this.client = client;
      return client;
    })();
    return this.opening;
  }

  async open(): Promise<void> {
    await this.redis();
  }

  async take(key: string, rate: RateSpec, now: number, reserveMs = 0): Promise<TakeResult> {
    const [taken, waitMs] = (await runScript(
      await this.redis(),
      flowTakeScript,
      [this.key('bucket', key)],
      [String(rate.tokens / rate.perMs), String(rate.burst), String(now), String(reserveMs)],
    )) as [number, number];
    return { taken: taken === 1, waitMs: Number(waitMs) };
  }

  async acquire(
    key: string,
    holder: string,
    limit: number,
    leaseMs: number,
    now: number,
  ): Promise<boolean> {
    const held = await runScript(
      await this.redis(),
      flowAcquireScript,
      [this.key('slots', key)],
      [holder, limit, Math.ceil(leaseMs), now],
    );
    return Number(held) === 1;
  }

  async renew(leases: readonly SlotLease[], leaseMs: number, now: number): Promise<void> {
    if (leases.length === 0) return;
    await runScript(
      await this.redis(),
      flowRenewScript,
      leases.map((lease) => this.key('slots', lease.key)),
      [Math.ceil(leaseMs), now, ...leases.map((lease) => lease.holder)],
    );
  }

  async release(key: string, holder: string): Promise<void> {
    await (await this.redis()).zrem(this.key('slots', key), holder);
  }

  async claim(key: string, taskId: string, windowMs: number, now: number): Promise<string> {
    const owner = await runScript(
      await this.redis(),
      flowClaimScript,
      [this.key('claim', key)],
      [taskId, Math.max(1, Math.ceil(windowMs)), now],
    );
    return String(owner);
  }

  async unclaim(key: string, taskId: string): Promise<void> {
    await runScript(await this.redis(), flowUnclaimScript, [this.key('claim', key)], [taskId]);
  }

  async inspect(prefix: string, now: number): Promise<FlowEntry[]> {
    const redis = await this.redis();
    const entries: FlowEntry[] = [];
    for (const kind of KINDS) {
      const head = this.key(kind, '');
      for (const full of await scanPrefix(redis, head + prefix)) {
        const key = full.slice(head.length);
        if (kind === 'bucket') {
          const [tokens, at, rate, burst] = (
            await redis.hmget(full, 'tokens', 'at', 'rate', 'burst')
          ).map(Number);
          if ([tokens, at, rate, burst].some((n) => n === undefined || Number.isNaN(n))) continue;
          const left = Math.min(burst!, tokens! + Math.max(0, now - at!) * rate!);
          if (left < burst!) entries.push({ key, kind, tokens: left });
        } else if (kind === 'slots') {
          const held = await redis.zcount(full, `(${now}`, '+inf');
          if (held > 0) entries.push({ key, kind, held });
        } else {
          const value = await redis.get(full);
          const match = value === null ? null : /^(\d+)\|(.*)$/s.exec(value);
          if (match && Number(match[1]) > now) entries.push({ key, kind, taskId: match[2]! });
        }
      }
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async close(): Promise<void> {
    const client =
      this.client ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    this.client = undefined;
    this.opening = undefined;
    if (client) await closeConnection(client);
  }
}

/** Every key starting with `prefix` (glob characters in it escaped), by SCAN. */
async function scanPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}
