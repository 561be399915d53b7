/**
 * The state one Redis broker instance shares between its publisher, consumers, lease
 * keeper and delayed-message promoter: the command connection, the key layout, the
 * settings and the registry of deliveries this process holds (whose leases it renews).
 * Must never hold a message that Redis does not also record as unacked.
 */
import type { Redis } from 'ioredis';
import type { RedisUrlConfig } from '../../connections/redis/connection.js';
import type { PriorityStep } from './keys.js';
import { RedisKeyspace } from './keys.js';
import type { RedisBrokerSettings } from './options.js';
import {
  runScript,
  type LuaScript,
  type ScriptArg,
} from '../../connections/redis/script-runner.js';
import { ResultCarriers, serverIdentity } from '../../connections/redis/result-carrier.js';

/** A delivery this process holds: enough to renew, give back, defer or dead-letter it. */
export interface HeldDelivery {
  readonly tag: string;
  /** The envelope exactly as fetched. */
  readonly envelope: string;
  readonly queue: string;
  /** The list it was claimed from (with prefix). */
  readonly listKey: string;
  readonly step: PriorityStep;
}

export class RedisBrokerCore {
  readonly keys: RedisKeyspace;
  /** Every delivery claimed and not yet settled in Redis, by tag: the lease keeper renews these. */
  readonly held = new Map<string, HeldDelivery>();
  /** This broker's consumers that carry its app's result writes (never another broker's). */
  readonly carriers: ResultCarriers;

  constructor(
    readonly client: Redis,
    readonly config: RedisUrlConfig,
    readonly settings: RedisBrokerSettings,
    readonly reportError: (error: Error) => void,
  ) {
    this.keys = new RedisKeyspace(settings.keyPrefix);
    this.carriers = new ResultCarriers(serverIdentity(config.connection));
  }

  run(script: LuaScript, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return runScript(this.client, script, keys, args);
  }

  /** The three keys every settle script starts with. */
  get unackedKeys(): [string, string, string] {
    return [this.keys.unacked, this.keys.unackedIndex, this.keys.leases];
  }
}

/**
 * The unacked_index score for a delivery taken or renewed at `ms`: unix seconds, rounded
 * up to a whole second. kombu writes `time()` with its fraction and restores entries
 * scored below `time() - visibility_timeout`; a score rounded up looks at most a second
 * younger, so it is never restored early. Whole numbers matter because Redis keeps a
 * small sorted set as a list whose every insert reads the scores before it: an integer
 * read instead of a float parse (a batch of 25 claims: 80 -> 33 us of Redis time).
 */
export function unackedScore(ms: number = Date.now()): number {
  return Math.ceil(ms / 1000);
}

/** Unix seconds, whole, rounded down: the ceiling below which a restore pass takes kombu's entries. */
export function restoreCeiling(ms: number): number {
  return Math.floor(ms / 1000);
}
