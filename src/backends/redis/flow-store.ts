/**
 * Flow control's store on Redis, under the backend's key prefix: a hash per bucket, a
 * sorted set of leases per slot limit, a string per claim, a hash per debounce window,
 * and per fairness group a rotation list, a list per key and two hashes; each step a Lua
 * script (scripts/flow.ts). Keys expire once they mean nothing, so per-key limits do not pile up.
 *
 * Redis Cluster safe: every key is `<prefix>celeriac.flow.{<unit>}<part>`, where the unit
 * is what one script works on (a bucket, a slot limit, a claim, a debounce key, a fairness
 * group), so every key a script touches, declared or computed in Lua (a fairness key's
 * queue), hashes to one slot; a step over several units (renewing many leases) is one
 * script per unit. A key prefix holding a `{...}` hash tag of its own puts every flow key
 * in that one slot, which is safe too.
 */
import type { Redis } from 'ioredis';
import {
  closeConnection,
  connectChecked,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';
import { runScript } from '../../connections/redis/script-runner.js';
import type {
  DebounceResult,
  DebounceTake,
  FairItem,
  FlowEntry,
  FlowStore,
  RateSpec,
  SlotLease,
  TakeResult,
} from '../flow-store.js';
import {
  flowAcquireScript,
  flowClaimScript,
  flowDebounceDropScript,
  flowDebounceScript,
  flowDebounceTakeScript,
  flowFairDoneScript,
  flowFairPushScript,
  flowFairRemoveScript,
  flowFairTakeScript,
  flowReleaseScript,
  flowRenewScript,
  flowTakeScript,
  flowUnclaimScript,
} from './scripts/flow.js';

/** Units (the hash tag's family): bucket, slot limit, claim, debounce key, fairness group. */
type Unit = 'bucket' | 'slots' | 'claim' | 'deb' | 'fair';
/** What inspect lists, and the part after the hash tag that marks it. */
const LISTED: ReadonlyArray<{ unit: Unit; part: string }> = [
  { unit: 'bucket', part: '' },
  { unit: 'slots', part: '' },
  { unit: 'claim', part: '' },
  { unit: 'deb', part: 'w' },
  { unit: 'fair', part: 'q:' },
];

export class RedisFlowStore implements FlowStore {
  private client: Redis | undefined;
  private opening: Promise<Redis> | undefined;
  private readonly base: string;
  /** The channel each released slot's key is published on. */
  private readonly releases: string;

  constructor(
    private readonly config: RedisUrlConfig,
    prefix: string,
  ) {
    this.base = `${prefix}celeriac.flow.`;
    this.releases = `${this.base}released`;
  }

  /** A key of `unit` named `key`: `part` tells apart the keys one unit's scripts share. */
  private key(unit: Unit, key: string, part = ''): string {
    return `${this.base}{${unit}:${key}}${part}`;
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
    const redis = await this.redis();
    // One script per lease: each limit's slots are a unit of their own (their own hash slot).
    await Promise.all(
      leases.map((lease) =>
        runScript(
          redis,
          flowRenewScript,
          [this.key('slots', lease.key)],
          [Math.ceil(leaseMs), now, lease.holder],
        ),
      ),
    );
  }

  async release(key: string, holder: string): Promise<void> {
    await runScript(
      await this.redis(),
      flowReleaseScript,
      [this.key('slots', key)],
      [holder, this.releases, key],
    );
  }

  /** Releases are published on one channel (PUBLISH reaches every node of a cluster). */
  async watchReleases(onRelease: (key: string) => void): Promise<() => Promise<void>> {
    const subscriber = openConnection(this.config, 'flow-releases', () => undefined);
    try {
      await connectChecked(subscriber, this.config);
      subscriber.on('message', (channel: string, key: string) => {
        if (channel === this.releases) onRelease(key);
      });
      await subscriber.subscribe(this.releases);
    } catch (error) {
      await closeConnection(subscriber).catch(() => undefined);
      throw error;
    }
    return () => closeConnection(subscriber);
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

  async debounce(
    key: string,
    taskId: string,
    payload: string,
    quietMs: number,
    now: number,
    keepMs: number,
  ): Promise<DebounceResult> {
    const [id, opened] = (await runScript(
      await this.redis(),
      flowDebounceScript,
      [this.key('deb', key, 'w')],
      [taskId, payload, Math.max(0, Math.ceil(quietMs)), now, Math.max(1, Math.ceil(keepMs))],
    )) as [string, number];
    return { taskId: String(id), opened: Number(opened) === 1 };
  }

  async debounceTake(
    key: string,
    taskId: string,
    now: number,
    keepMs: number,
  ): Promise<DebounceTake> {
    const [kind, value] = (await runScript(
      await this.redis(),
      flowDebounceTakeScript,
      [this.key('deb', key, 'w'), this.key('deb', key, `r:${taskId}`)],
      [taskId, now, Math.max(1, Math.ceil(keepMs))],
    )) as [string, string];
    if (kind === 'run') return { kind, payload: String(value) };
    if (kind === 'wait') return { kind, dueAt: Number(value) };
    return { kind: 'unknown' };
  }

  async debounceDrop(key: string, taskId: string): Promise<void> {
    await runScript(
      await this.redis(),
      flowDebounceDropScript,
      [this.key('deb', key, 'w')],
      [taskId],
    );
  }

  async fairPush(group: string, key: string, id: string, payload: string): Promise<void> {
    await runScript(
      await this.redis(),
      flowFairPushScript,
      [this.key('fair', group, 'ring'), this.key('fair', group, 'msg'), this.fairQueue(group, key)],
      [key, id, payload],
    );
  }

  async fairRemove(group: string, key: string, id: string): Promise<void> {
    await runScript(
      await this.redis(),
      flowFairRemoveScript,
      [this.key('fair', group, 'ring'), this.key('fair', group, 'msg'), this.fairQueue(group, key)],
      [key, id],
    );
  }

  async fairTake(group: string, token: string): Promise<FairItem | undefined> {
    const taken = (await runScript(
      await this.redis(),
      flowFairTakeScript,
      [
        this.key('fair', group, 'ring'),
        this.key('fair', group, 'msg'),
        this.key('fair', group, 'asg'),
      ],
      [token, this.fairQueue(group, '')],
    )) as [string, string] | null;
    return taken ? { id: String(taken[0]), payload: String(taken[1]) } : undefined;
  }

  async fairDone(group: string, token: string): Promise<void> {
    await runScript(
      await this.redis(),
      flowFairDoneScript,
      [this.key('fair', group, 'msg'), this.key('fair', group, 'asg')],
      [token],
    );
  }

  /** A fairness key's queue, in its group's slot (inspect lists it as `<group>:<key>`). */
  private fairQueue(group: string, key: string): string {
    return this.key('fair', group, `q:${key}`);
  }

  async inspect(prefix: string, now: number): Promise<FlowEntry[]> {
    const redis = await this.redis();
    const entries: FlowEntry[] = [];
    for (const { unit, part } of LISTED) {
      const kind = unit;
      const head = `${this.base}{${unit}:`;
      for (const full of await scanPrefix(redis, head + prefix)) {
        const key = listedKey(full.slice(head.length), unit, part);
        if (key === undefined) continue;
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
        } else if (kind === 'claim') {
          const value = await redis.get(full);
          const match = value === null ? null : /^(\d+)\|(.*)$/s.exec(value);
          if (match && Number(match[1]) > now) entries.push({ key, kind, taskId: match[2]! });
        } else if (kind === 'deb') {
          const [id, due, until] = await redis.hmget(full, 'id', 'due', 'until');
          if (id && Number(until) > now)
            entries.push({ key, kind: 'debounce', taskId: id, dueAt: Number(due) });
        } else {
          const waiting = await redis.llen(full);
          if (waiting > 0) entries.push({ key, kind: 'fair', waiting });
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

/**
 * The entry key of a scanned key (what follows the unit's `{<unit>:`), or undefined when it
 * is another of the unit's keys: a window is `<key>}w` (not a run's `<key>}r:<id>`), a
 * fairness queue `<group>}q:<key>`, listed as `<group>:<key>`; the rest `<key>}`.
 */
function listedKey(rest: string, unit: Unit, part: string): string | undefined {
  if (unit === 'fair') {
    const at = rest.indexOf(`}${part}`);
    return at === -1 ? undefined : `${rest.slice(0, at)}:${rest.slice(at + 1 + part.length)}`;
  }
  return rest.endsWith(`}${part}`) ? rest.slice(0, rest.length - 1 - part.length) : undefined;
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
