/**
 * A consumer of one or more queues: claims messages in batches up to its free prefetch
 * slots (a few claim calls in flight), hands them out as deliveries, and writes the acks
 * asked for in each turn of the event loop together. When the lists run dry it sleeps on
 * the list waiter.
 * Must never hold more unsettled deliveries than its prefetch, and never drop an ack:
 * a failed ack is retried, its lease kept alive meanwhile.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, ConsumeOptions, Delivery } from '../broker.js';
import { unixSeconds, type HeldDelivery, type RedisBrokerCore } from './core.js';
import type { QueueList } from './keys.js';
import { ListWaiter } from './list-waiter.js';
import { fetchScript } from './scripts/fetch.js';
import { decodeDelivery, tripleTail } from './wire.js';
import type { DeliverySettler } from './settle.js';

/** Most messages claimed by one script call (Lua's unpack limit is ~8000 values). */
const MAX_CLAIM = 1000;
/** Claim calls a consumer keeps in flight on its connection. */
const MAX_CLAIMS_IN_FLIGHT = 4;
/** Most acks sent in one write, and ack writes in flight. */
const MAX_ACKS = 2000;
const MAX_ACK_FLUSHES = 2;
/** Pause before retrying after a failed claim or ack (Redis down). */
const RETRY_MS = 250;

interface PendingAck {
  tag: string;
  resolve: () => void;
}

export class RedisConsumer implements Consumer {
  private readonly lists: QueueList[];
  private readonly tails: string[];
  private readonly listKeys: string[];
  private readonly waiter: ListWaiter;
  private prefetch: number;
  private active = true;
  /** Deliveries handed out and not yet settled by the user. */
  private outstanding = 0;
  private pendingAcks: PendingAck[] = [];
  /** Claim calls in flight, and the slots they may fill. */
  private claims = 0;
  private reserved = 0;
  /** Ack writes in flight. */
  private ackFlushes = 0;
  /** The last claim came back short: wait for the waiter before claiming again. */
  private dry = false;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(
    private readonly core: RedisBrokerCore,
    private readonly settler: DeliverySettler,
    private readonly options: ConsumeOptions,
  ) {
    this.prefetch = Math.max(1, options.prefetch);
    this.lists = core.keys.lists(options.queues);
    this.tails = this.lists.map((list) => tripleTail('', list.queue));
    this.listKeys = this.lists.map((list) => list.key);
    this.waiter = new ListWaiter(
      core.config,
      this.listKeys,
      () => this.wake(),
      (error) => this.reportError(error),
    );
  }

  get isActive(): boolean {
    return this.active;
  }

  start(): void {
    this.schedule();
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, prefetch);
    this.schedule();
  }

  /** Stops claiming; waits for the acks given so far to be written, but not forever (Redis may be gone). */
  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    await this.waiter.close();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.core.settings.publishTimeoutMs)));
    await Promise.race([this.drained(), bound]);
    clearTimeout(timer);
  }

  /** Resolves once every ack given so far is written. */
  drained(): Promise<void> {
    if (this.pendingAcks.length === 0 && this.ackFlushes === 0 && this.claims === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Called by a delivery's ack: the slot frees now; the ack goes out with this turn's others. */
  queueAck(tag: string): Promise<void> {
    this.outstanding -= 1;
    return new Promise((resolve) => {
      this.pendingAcks.push({ tag, resolve });
      this.schedule();
    });
  }

  /** Called when a delivery is settled another way (reject, defer): its slot frees. */
  released(): void {
    this.outstanding -= 1;
    this.schedule();
  }

  /** Coalesces everything that wants a tick into one per turn of the event loop. */
  private schedule(): void {
    if (this.scheduled || this.retryTimer) return;
    this.scheduled = true;
    // After the current microtasks: every ack asked for in this turn (replies arrive in
    // batches, each resolving a task) joins one write.
    process.nextTick(() => this.tick());
  }

  /**
   * Sends this turn's acks, and starts claims while slots are free, up to a few at once:
   * Redis runs one batch while this process hands out the previous one.
   */
  private tick(): void {
    this.scheduled = false;
    if (this.pendingAcks.length > 0 && this.ackFlushes < MAX_ACK_FLUSHES) void this.flushAcks(this.pendingAcks.splice(0, MAX_ACKS));
    while (this.claims < MAX_CLAIMS_IN_FLIGHT) {
      const free = this.active && !this.dry ? this.prefetch - this.outstanding - this.reserved : 0;
      const chunk = this.chunk();
      const want = Math.min(chunk, free);
      if (want <= 0) break;
      // While a claim is out, a small one waits for it: batches stay large under load.
      if (this.claims > 0 && want < chunk) break;
      void this.claim(want);
    }
    this.afterTick();
  }

  /** Claim batches are a slice of the prefetch, so several can be in flight. */
  private chunk(): number {
    return Math.max(1, Math.min(MAX_CLAIM, Math.ceil(this.prefetch / MAX_CLAIMS_IN_FLIGHT)));
  }

  /** Acks as kombu writes them (ZREM unacked_index, HDEL unacked) plus our lease, in one write. */
  private async flushAcks(acks: PendingAck[]): Promise<void> {
    this.ackFlushes += 1;
    const tags = acks.map((ack) => ack.tag);
    const { keys } = this.core;
    try {
      const replies = await this.core.client
        .pipeline()
        .zrem(keys.unackedIndex, ...tags)
        .hdel(keys.unacked, ...tags)
        .zrem(keys.leases, ...tags)
        .exec();
      for (const [error] of replies ?? []) if (error) throw error;
    } catch (error) {
      this.ackFlushes -= 1;
      this.pendingAcks.unshift(...acks);
      this.retryLater(error as Error);
      return;
    }
    this.ackFlushes -= 1;
    for (const ack of acks) {
      this.core.held.delete(ack.tag);
      ack.resolve();
    }
    this.schedule();
  }

  private async claim(want: number): Promise<void> {
    this.claims += 1;
    this.reserved += want;
    let claimed: unknown[];
    try {
      const now = Date.now();
      const args = [unixSeconds(now), now + this.core.settings.leaseMs, want, `celeriac-untagged-${randomUUID()}-`, ...this.tails];
      claimed = (await this.core.run(fetchScript, [...this.core.unackedKeys, ...this.listKeys], args)) as unknown[];
    } catch (error) {
      this.claims -= 1;
      this.reserved -= want;
      this.retryLater(error as Error);
      return;
    }
    this.claims -= 1;
    this.reserved -= want;
    for (let i = 0; i < claimed.length; i += 3) {
      const list = this.lists[Number(claimed[i]) - 1];
      if (list) this.hand(list, String(claimed[i + 1]), String(claimed[i + 2]));
    }
    if (this.active) {
      // A short batch means the lists ran dry: sleep on the waiter until one fills.
      if (claimed.length / 3 < want) {
        this.dry = true;
        this.waiter.arm();
      } else {
        this.waiter.disarm();
      }
    }
    this.schedule();
  }

  /** Redis is away or refused: report it, and try again shortly rather than spin. */
  private retryLater(error: Error): void {
    this.reportError(error);
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, RETRY_MS);
  }

  private wake(): void {
    this.dry = false;
    this.schedule();
  }

  private afterTick(): void {
    if (this.pendingAcks.length === 0 && this.ackFlushes === 0 && this.claims === 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** Turns a claimed envelope into a delivery, or dead-letters it when it cannot be read. */
  private hand(list: QueueList, tag: string, envelope: string): void {
    const held: HeldDelivery = { tag, envelope, queue: list.queue, listKey: list.key, step: list.step };
    this.core.held.set(tag, held);
    let decoded: ReturnType<typeof decodeDelivery>;
    try {
      decoded = decodeDelivery(envelope);
    } catch (error) {
      const reason = `malformed message: ${(error as Error).message}`;
      this.reportError(new Error(`Dead-lettered a ${reason} (queue ${list.queue}, tag ${tag})`));
      void this.settler.deadLetter(held, reason).catch((failure: Error) => this.reportError(failure));
      return;
    }
    this.outstanding += 1;
    const delivery = this.settler.delivery(this, held, decoded.message, decoded.redelivered);
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.reportError(error as Error);
    }
  }

  reportError(error: Error): void {
    try {
      (this.options.onError ?? this.core.reportError)(error);
    } catch {
      // An error handler that throws must not stop the consumer.
    }
  }
}

export type { Delivery };
