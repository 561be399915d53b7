/**
 * Heartbeat-extended leases and the restore pass. A live consumer re-scores the deliveries
 * it holds (kombu's unacked_index and our lease set) every `heartbeatMs`, so an hour-long
 * task is never restored, by us or by a Celery worker's own restore pass. The restore pass
 * (under kombu's `unacked_mutex`) gives back deliveries whose Celeriac lease lapsed, and
 * those of other clients older than the visibility timeout, as kombu does. What a pass
 * cannot give back (an unreadable entry, a hash field gone) goes to the dead letters of
 * `UNRESTORABLE_QUEUE` with its reason, so every pass gets past it to the next ones.
 * Must never restore a delivery this process still holds, and never read a tag as text:
 * tags are any bytes another client wrote, and only the bytes find the entry again.
 */
import { randomUUID } from 'node:crypto';
import { restoreCeiling, unackedScore, type RedisBrokerCore } from './core.js';
import { priorityStep, SEP, UNRESTORABLE_QUEUE } from './keys.js';
import { restoreStaleScript, releaseMutexScript } from './scripts/restore.js';
import { markRedelivered, routeOf } from './wire.js';

/** Tags re-scored per command: keeps each ZADD well under Redis's argument limits. */
const HEARTBEAT_CHUNK = 500;
/** Deliveries looked at per restore pass (kombu's `unacked_restore_limit` is unbounded; we page). */
const RESTORE_PAGE = 200;
/**
 * How long our hold on `unacked_mutex` lasts if we die mid-pass. kombu takes it for 300 s;
 * a pass of ours takes milliseconds and each restore is atomic on its own, so a short
 * hold keeps a consumer killed mid-pass from blocking everyone's restores for 5 minutes.
 */
const MUTEX_TTL_MS = 10_000;
/** Room for the unacked triple's tail (`, "<exchange>", "<routing key>"]`) past the envelope itself. */
const TRIPLE_TAIL_ALLOWANCE = 4096;

/** What one pass did: the count it returns, and the dead letters it reports in one line. */
interface PassOutcome {
  restored: number;
  deadLettered: number;
  firstReason: string | undefined;
}

/** Where an unacked entry goes back to, or why it cannot. */
type Target = { list: string; envelope: string } | { problem: string };

export class LeaseKeeper {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private restoreTimer: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(private readonly core: RedisBrokerCore) {}

  /** Renews leases as long as the broker is open (cheap when nothing is held). */
  startHeartbeat(): void {
    this.heartbeatTimer ??= setInterval(
      () => void this.heartbeat(),
      this.core.settings.heartbeatMs,
    ).unref();
  }

  /** Runs the restore pass now and then every `restoreIntervalMs` (consumers only). */
  startRestoring(): void {
    if (this.restoreTimer) return;
    this.restoreTimer = setInterval(
      () => void this.restoreQuietly(),
      this.core.settings.restoreIntervalMs,
    ).unref();
    void this.restoreQuietly();
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.restoreTimer);
    this.heartbeatTimer = undefined;
    this.restoreTimer = undefined;
  }

  /** Re-scores every held delivery; `XX` so an entry acked or restored meanwhile is not re-created. */
  async heartbeat(): Promise<void> {
    if (this.beating || this.core.held.size === 0) return;
    this.beating = true;
    try {
      const now = Date.now();
      const seconds = unackedScore(now);
      const expiry = now + this.core.settings.leaseMs;
      const tags = [...this.core.held.keys()];
      const pipeline = this.core.client.pipeline();
      for (let i = 0; i < tags.length; i += HEARTBEAT_CHUNK) {
        const chunk = tags.slice(i, i + HEARTBEAT_CHUNK);
        pipeline.zadd(this.core.keys.unackedIndex, 'XX', ...chunk.flatMap((tag) => [seconds, tag]));
        pipeline.zadd(this.core.keys.leases, 'XX', ...chunk.flatMap((tag) => [expiry, tag]));
      }
      await pipeline.exec();
    } catch (error) {
      this.core.reportError(error as Error);
    } finally {
      this.beating = false;
    }
  }

  private async restoreQuietly(): Promise<void> {
    try {
      await this.restorePass();
    } catch (error) {
      this.core.reportError(error as Error);
    }
  }

  /**
   * One restore pass; returns how many deliveries went back to their queues. Deliveries
   * whose Celeriac lease lapsed are restored whatever holds `unacked_mutex` (each restore
   * is atomic and checks the lease again, and kombu leaves them alone until its visibility
   * timeout); other clients' stale deliveries only under the mutex, as kombu does.
   */
  async restorePass(): Promise<number> {
    const { client, keys, settings } = this.core;
    const now = Date.now();
    const ceiling = restoreCeiling(now - settings.visibilityTimeoutMs);
    const outcome: PassOutcome = { restored: 0, deadLettered: 0, firstReason: undefined };
    try {
      for (const tag of await client.zrangebyscoreBuffer(
        keys.leases,
        '-inf',
        now,
        'LIMIT',
        0,
        RESTORE_PAGE,
      )) {
        // Ours and still running (a late heartbeat): the next beat renews it.
        if (this.holds(tag)) continue;
        await this.restoreOne(tag, 'lease', now, ceiling, outcome);
      }
      const token = randomUUID().replaceAll('-', '');
      if ((await client.set(keys.unackedMutex, token, 'PX', MUTEX_TTL_MS, 'NX')) !== 'OK')
        return outcome.restored;
      try {
        for (const tag of await client.zrangebyscoreBuffer(
          keys.unackedIndex,
          '-inf',
          ceiling,
          'LIMIT',
          0,
          RESTORE_PAGE,
        )) {
          if (this.holds(tag)) continue;
          await this.restoreOne(tag, 'foreign', now, ceiling, outcome);
        }
        return outcome.restored;
      } finally {
        await this.core.run(releaseMutexScript, [keys.unackedMutex], [token]);
      }
    } finally {
      if (outcome.deadLettered > 0) {
        const entries = outcome.deadLettered === 1 ? 'entry' : 'entries';
        this.core.reportError(
          new Error(
            `The restore pass dead-lettered ${outcome.deadLettered} unacked ${entries} it could not give back ` +
              `(${outcome.firstReason ?? 'unreadable'}); they are kept in broker.deadLetters(${JSON.stringify(UNRESTORABLE_QUEUE)}).`,
          ),
        );
      }
    }
  }

  /** Tags this process holds are ASCII (the fetch script sees to it), so text compares them exactly. */
  private holds(tag: Buffer): boolean {
    return this.core.held.has(tag.toString('latin1'));
  }

  private async restoreOne(
    tag: Buffer,
    mode: 'lease' | 'foreign',
    now: number,
    ceiling: number,
    outcome: PassOutcome,
  ): Promise<void> {
    const { client, keys } = this.core;
    const raw = await client.hgetBuffer(keys.unacked, tag);
    // A missing field is the script's to judge: it may be gone because the entry was just acked.
    const target: Target = raw === null ? { problem: '' } : await this.target(raw);
    const dead = keys.deadLetter(UNRESTORABLE_QUEUE);
    const [list, envelope, problem] =
      'list' in target ? [target.list, target.envelope, ''] : [dead, '', target.problem];
    const moved = await this.core.run(
      restoreStaleScript,
      [...this.core.unackedKeys, list, dead],
      [tag, mode, now, ceiling, envelope, problem],
    );
    if (moved === 1) outcome.restored += 1;
    if (moved === 2) {
      outcome.deadLettered += 1;
      outcome.firstReason ??= problem || 'its unacked hash field is missing';
    }
  }

  /**
   * Where kombu would restore an unacked triple, and the envelope marked redelivered; or
   * why it cannot be restored. The size is checked before anything is parsed.
   */
  private async target(raw: Buffer): Promise<Target> {
    const limit = this.core.settings.maxEnvelopeBytes;
    if (raw.length > limit + TRIPLE_TAIL_ALLOWANCE) {
      return {
        problem: `the unacked entry is ${raw.length} bytes, over the limit of ${limit} (maxEnvelopeBytes)`,
      };
    }
    let triple: unknown;
    try {
      triple = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      return { problem: `the unacked entry is not JSON (${(error as Error).message})` };
    }
    if (!Array.isArray(triple) || typeof triple[0] !== 'object' || triple[0] === null) {
      return { problem: 'the unacked entry is not [envelope, exchange, routing_key]' };
    }
    try {
      const payload = JSON.stringify(triple[0]);
      const exchange = typeof triple[1] === 'string' ? triple[1] : '';
      const routingKey = typeof triple[2] === 'string' ? triple[2] : '';
      const route = routeOf(payload);
      const tag = (triple[0] as { properties?: { delivery_tag?: unknown } }).properties
        ?.delivery_tag;
      const envelope = markRedelivered(payload, typeof tag === 'string' ? tag : randomUUID());
      const queue = exchange ? await this.lookup(exchange, routingKey) : routingKey;
      if (!queue) return { problem: 'the unacked entry names no queue to go back to' };
      return { list: this.core.keys.list(queue, priorityStep(route.kombuPriority)), envelope };
    } catch (error) {
      return { problem: `the unacked envelope cannot be read (${(error as Error).message})` };
    }
  }

  /** kombu's `_lookup` for a direct exchange: the first queue bound with this routing key. */
  private async lookup(exchange: string, routingKey: string): Promise<string> {
    const members = await this.core.client.smembers(this.core.keys.binding(exchange));
    for (const member of members) {
      const [key, , queue] = member.split(SEP);
      if (key === routingKey && queue) return queue;
    }
    return routingKey;
  }
}
