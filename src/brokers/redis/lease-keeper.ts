/**
 * Heartbeat-extended leases and the restore pass. A live consumer re-scores the deliveries
 * it holds (kombu's unacked_index and our lease set) every `heartbeatMs`, so an hour-long
 * task is never restored, by us or by a Celery worker's own restore pass. The restore pass
 * (under kombu's `unacked_mutex`) gives back deliveries whose Celeriac lease lapsed, and
 * those of other clients older than the visibility timeout, as kombu does.
 * Must never restore a delivery this process still holds.
 */
import { randomUUID } from 'node:crypto';
import { restoreCeiling, unackedScore, type RedisBrokerCore } from './core.js';
import { priorityStep, SEP } from './keys.js';
import { restoreStaleScript, releaseMutexScript } from './scripts/restore.js';
import { deadLetterScript } from './scripts/settle.js';
import { encodeDeadLetter, markRedelivered, routeOf } from './wire.js';

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

export class LeaseKeeper {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private restoreTimer: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(private readonly core: RedisBrokerCore) {}

  /** Renews leases as long as the broker is open (cheap when nothing is held). */
  startHeartbeat(): void {
    this.heartbeatTimer ??= setInterval(() => void this.heartbeat(), this.core.settings.heartbeatMs).unref();
  }

  /** Runs the restore pass now and then every `restoreIntervalMs` (consumers only). */
  startRestoring(): void {
    if (this.restoreTimer) return;
    this.restoreTimer = setInterval(() => void this.restoreQuietly(), this.core.settings.restoreIntervalMs).unref();
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
    let restored = 0;
    for (const tag of await client.zrangebyscore(keys.leases, '-inf', now, 'LIMIT', 0, RESTORE_PAGE)) {
      // Ours and still running (a late heartbeat): the next beat renews it.
      if (this.core.held.has(tag)) continue;
      restored += await this.restoreOne(tag, 'lease', now, ceiling);
    }
    const token = randomUUID().replaceAll('-', '');
    if ((await client.set(keys.unackedMutex, token, 'PX', MUTEX_TTL_MS, 'NX')) !== 'OK') return restored;
    try {
      for (const tag of await client.zrangebyscore(keys.unackedIndex, '-inf', ceiling, 'LIMIT', 0, RESTORE_PAGE)) {
        if (this.core.held.has(tag)) continue;
        restored += await this.restoreOne(tag, 'foreign', now, ceiling);
      }
      return restored;
    } finally {
      await this.core.run(releaseMutexScript, [keys.unackedMutex], [token]);
    }
  }

  private async restoreOne(tag: string, mode: 'lease' | 'foreign', now: number, ceiling: number): Promise<number> {
    const { client, keys } = this.core;
    const raw = await client.hget(keys.unacked, tag);
    const target = raw === null ? undefined : await this.target(raw);
    if (raw !== null && !target) {
      // Unreadable: never push it where a worker would choke on it again.
      const entry = encodeDeadLetter({ queue: '', reason: 'malformed unacked entry found by the restore pass', at: now, envelope: raw });
      await this.core.run(deadLetterScript, [...this.core.unackedKeys, keys.deadLetter('_unreadable')], [tag, entry]);
      return 0;
    }
    const list = target?.list ?? keys.list('_missing');
    const envelope = target?.envelope ?? '';
    const moved = await this.core.run(restoreStaleScript, [...this.core.unackedKeys, list], [tag, mode, now, ceiling, envelope]);
    return moved === 1 ? 1 : 0;
  }

  /** Where kombu would restore an unacked triple, and the envelope marked redelivered. */
  private async target(raw: string): Promise<{ list: string; envelope: string } | undefined> {
    try {
      const triple = JSON.parse(raw) as unknown;
      if (!Array.isArray(triple) || typeof triple[0] !== 'object' || triple[0] === null) return undefined;
      const payload = JSON.stringify(triple[0]);
      const exchange = typeof triple[1] === 'string' ? triple[1] : '';
      const routingKey = typeof triple[2] === 'string' ? triple[2] : '';
      const route = routeOf(payload);
      const tag = (triple[0] as { properties?: { delivery_tag?: unknown } }).properties?.delivery_tag;
      const envelope = markRedelivered(payload, typeof tag === 'string' ? tag : randomUUID());
      const queue = exchange ? await this.lookup(exchange, routingKey) : routingKey;
      if (!queue) return undefined;
      return { list: this.core.keys.list(queue, priorityStep(route.kombuPriority)), envelope };
    } catch {
      return undefined;
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
