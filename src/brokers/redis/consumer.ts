/**
 * A consumer of one or more queues: claims messages in batches up to its free prefetch
 * slots, hands them out as deliveries, and sends the acks of each tick together with the
 * next claim in one script call. When the lists run dry it sleeps on the list waiter.
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
/** Script calls a consumer keeps in flight on its connection. */
const MAX_CALLS_IN_FLIGHT = 4;
/** Most acks sent in one script call. */
const MAX_ACKS = 2000;
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
  /** Script calls in flight, and the slots their claims may fill. */
  private calls = 0;
  private reserved = 0;
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

  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    await this.waiter.close();
    await this.drained();
  }

  /** Resolves once every ack given so far is written. */
  drained(): Promise<void> {
    if (this.pendingAcks.length === 0 && this.calls === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Called by a delivery's ack: the slot frees now, the ack rides with the next claim. */
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
    setImmediate(() => this.tick());
  }

  /**
   * Starts script calls while there are acks to send or free slots to fill, up to a few at
   * once: Redis runs one batch while this process hands out the previous one.
   */
  private tick(): void {
    this.scheduled = false;
    while (this.calls < MAX_CALLS_IN_FLIGHT) {
      const free = this.active && !this.dry ? this.prefetch - this.outstanding - this.reserved : 0;
      const chunk = this.chunk();
      const want = Math.max(0, Math.min(chunk, free));
      if (this.pendingAcks.length === 0 && want === 0) break;
      // Like Nagle: while a call is out, let small work pile up and ride with the next one;
      // only full claims (or a large pile of acks) go out alongside it.
      if (this.calls > 0 && want < chunk && this.pendingAcks.length < MAX_ACKS / 4) break;
      void this.call(this.pendingAcks.splice(0, MAX_ACKS), want);
    }
    this.afterTick();
  }

  /** Claim batches are a slice of the prefetch, so several can be in flight. */
  private chunk(): number {
    return Math.max(1, Math.min(MAX_CLAIM, Math.ceil(this.prefetch / MAX_CALLS_IN_FLIGHT)));
  }

  private async call(acks: PendingAck[], want: number): Promise<void> {
    this.calls += 1;
    this.reserved += want;
    let claimed: unknown[];
    try {
      const now = Date.now();
      const args: Array<string | number> = [acks.length, ...acks.map((ack) => ack.tag)];
      args.push(unixSeconds(now), now + this.core.settings.leaseMs, want, `celeriac-untagged-${randomUUID()}-`);
      if (want > 0) args.push(...this.tails);
      const keys = want > 0 ? [...this.core.unackedKeys, ...this.listKeys] : this.core.unackedKeys;
      claimed = (await this.core.run(fetchScript, keys, args)) as unknown[];
    } catch (error) {
      this.calls -= 1;
      this.reserved -= want;
      this.pendingAcks.unshift(...acks);
      this.reportError(error as Error);
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.schedule();
      }, RETRY_MS);
      return;
    }
    this.calls -= 1;
    this.reserved -= want;
    for (const ack of acks) {
      this.core.held.delete(ack.tag);
      ack.resolve();
    }
    for (let i = 0; i < claimed.length; i += 3) {
      const list = this.lists[Number(claimed[i]) - 1];
      if (list) this.hand(list, String(claimed[i + 1]), String(claimed[i + 2]));
    }
    if (want > 0 && this.active) {
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

  private wake(): void {
    this.dry = false;
    this.schedule();
  }

  private afterTick(): void {
    if (this.pendingAcks.length === 0 && this.calls === 0) {
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
