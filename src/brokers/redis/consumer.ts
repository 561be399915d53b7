/**
 * A consumer of one or more queues: claims messages in batches up to its free prefetch
 * slots (a few calls in flight), hands them out as deliveries, and writes the acks asked
 * for in each turn of the event loop together, with the next claim; results stored by a
 * backend of this process on the same server ride along too (result-carrier.ts). When the lists run dry it sleeps on
 * the list waiter.
 * Must never hold more deliveries than its prefetch (a delivery stops counting once its
 * task's code has ended, or once it is settled), and never drop an ack:
 * a failed ack is retried, its lease kept alive meanwhile.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, ConsumeOptions, Delivery } from '../broker.js';
import { unackedScore, type HeldDelivery, type RedisBrokerCore } from './core.js';
import type { QueueList } from './keys.js';
import { ListWaiter } from './list-waiter.js';
import { fetchScript } from './scripts/fetch.js';
import { decodeDelivery, tripleTail } from './wire.js';
import type { DeliverySettler } from './settle.js';
import type { CarriedWrite, ResultCarrier } from '../../connections/redis/result-carrier.js';

/** Most messages claimed by one script call (Lua's unpack limit is ~8000 values). */
const MAX_CLAIM = 1000;
/** Claim calls a consumer keeps in flight on its connection. */
const MAX_CLAIMS_IN_FLIGHT = 2;
/** Most acks sent in one call (well under Lua's unpack limit). */
const MAX_ACKS = 2000;
/** Most result writes carried in one call. */
const MAX_WRITES = 1000;
/** Calls in flight that carry only result writes and acks. */
const MAX_RIDER_ONLY_CALLS = 2;
/** Pause before retrying after a failed claim or ack (Redis down). */
const RETRY_MS = 250;

/**
 * Acks asked for that go out in one call, and the one promise their callers wait on: a
 * worker acks tens of thousands of messages a second, and a promise per ack costs it.
 */
class AckBatch {
  readonly tags: string[] = [];
  resolve!: () => void;
  readonly written = new Promise<void>((resolve) => (this.resolve = resolve));
}

export class RedisConsumer implements Consumer, ResultCarrier {
  private readonly lists: QueueList[];
  private readonly listKeys: string[];
  /** KEYS of every fetch-script call: the unacked keys, the lists, their dead-letter lists. */
  private readonly scriptKeys: string[];
  /** ARGV of every fetch-script call about the lists: their unacked tails, then their queues' names. */
  private readonly listArgs: string[];
  private readonly waiter: ListWaiter;
  private prefetch: number;
  private active = true;
  /** Deliveries handed out and not yet settled by the user. */
  private outstanding = 0;
  /** Acks not written yet; only the last batch takes more. */
  private pendingAcks: AckBatch[] = [];
  /** Result writes handed over by a result backend of this process on the same server. */
  private pendingWrites: CarriedWrite[] = [];
  private withdrawCarrier: (() => void) | undefined;
  /** Fetch-script calls in flight that claim, the slots they may fill, and those that do not. */
  private claims = 0;
  private reserved = 0;
  private riderOnlyCalls = 0;
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
    this.listKeys = this.lists.map((list) => list.key);
    this.scriptKeys = [
      ...core.unackedKeys,
      ...this.listKeys,
      ...this.lists.map((list) => core.keys.deadLetter(list.queue)),
    ];
    this.listArgs = [
      ...this.lists.map((list) => tripleTail('', list.queue)),
      ...this.lists.map((list) => JSON.stringify(list.queue)),
    ];
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
    this.withdrawCarrier = this.core.carriers.offer(this);
    this.schedule();
  }

  /** A raised prefetch claims at once; a lowered one waits for settles to fall under it. */
  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, prefetch);
    // A dry consumer's waiter is armed and wakes it when a list fills.
    this.schedule();
  }

  carry(write: CarriedWrite): void {
    if (!this.active) return write.giveBack();
    this.pendingWrites.push(write);
    this.schedule();
  }

  /** Stops claiming; waits for the acks given so far to be written, but not forever (Redis may be gone). */
  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.withdrawCarrier?.();
    // Writes not sent yet go back to their backend, which sends them itself.
    for (const write of this.pendingWrites.splice(0)) write.giveBack();
    await this.waiter.close();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, this.core.settings.publishTimeoutMs)),
    );
    await Promise.race([this.drained(), bound]);
    clearTimeout(timer);
  }

  /** Resolves once every ack given so far is written. */
  drained(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Called by a delivery's ack: the ack goes out with this turn's others. */
  queueAck(tag: string): Promise<void> {
    let batch = this.pendingAcks[this.pendingAcks.length - 1];
    if (!batch || batch.tags.length >= MAX_ACKS) this.pendingAcks.push((batch = new AckBatch()));
    batch.tags.push(tag);
    this.schedule();
    return batch.written;
  }

  /**
   * Called once per delivery, when its task's code ends or it is settled: its slot frees.
   * Once a whole claim's worth is free, the claim goes out at once, not at the end of the
   * turn: Redis serves it while this process still works through the rest of the batch.
   */
  freeSlot(): void {
    this.outstanding -= 1;
    if (this.claims < MAX_CLAIMS_IN_FLIGHT && !this.retryTimer && this.freeSlots() >= this.chunk())
      void this.exchange(this.chunk());
    else this.schedule();
  }

  private freeSlots(): number {
    return this.active && !this.dry ? this.prefetch - this.outstanding - this.reserved : 0;
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
   * Starts claims while slots are free, up to a few calls at once (Redis runs one batch
   * while this process hands out the previous one); this turn's result writes and acks
   * ride along with the first, or go alone when nothing is to be claimed.
   */
  private tick(): void {
    this.scheduled = false;
    while (this.claims < MAX_CLAIMS_IN_FLIGHT) {
      const free = this.freeSlots();
      const chunk = this.chunk();
      const want = Math.min(chunk, free);
      if (want <= 0) break;
      // While a claim is out, a small one waits for it: batches stay large under load.
      if (this.claims > 0 && want < chunk) break;
      void this.exchange(want);
    }
    // Writes and acks wait for the next claim to ride with while one is out (its reply
    // brings the next tick); with none out they go alone, a couple of calls at a time.
    if (this.hasRiders() && this.claims === 0 && this.riderOnlyCalls < MAX_RIDER_ONLY_CALLS)
      void this.exchange(0);
    this.afterTick();
  }

  private hasRiders(): boolean {
    return this.pendingAcks.length > 0 || this.pendingWrites.length > 0;
  }

  private idle(): boolean {
    return !this.hasRiders() && this.claims === 0 && this.riderOnlyCalls === 0;
  }

  /** Claim batches are a slice of the prefetch, so several can be in flight. */
  private chunk(): number {
    return Math.max(1, Math.min(MAX_CLAIM, Math.ceil(this.prefetch / MAX_CLAIMS_IN_FLIGHT)));
  }

  /**
   * One fetch-script call: the pending result writes (first: an ack must never reach Redis
   * before its result), the pending acks (as kombu acks, plus our lease), and a claim of up
   * to `want` messages.
   */
  private async exchange(want: number): Promise<void> {
    const acks = this.takeAcks();
    const writes = this.pendingWrites.splice(0, MAX_WRITES);
    if (want > 0) this.claims += 1;
    else this.riderOnlyCalls += 1;
    this.reserved += want;
    let claimed: unknown[];
    try {
      const now = Date.now();
      const keys = this.scriptKeys.slice();
      const { leaseMs, maxEnvelopeBytes } = this.core.settings;
      const args: Array<string | number> = [
        unackedScore(now),
        now + leaseMs,
        want,
        `celeriac-untagged-${randomUUID()}-`,
        this.lists.length,
        now,
        maxEnvelopeBytes,
      ];
      args.push(...this.listArgs, writes.length);
      for (const write of writes) {
        keys.push(write.key);
        args.push(write.expiresMs, write.text);
      }
      for (const batch of acks) for (const tag of batch.tags) args.push(tag);
      claimed = (await this.core.run(fetchScript, keys, args)) as unknown[];
    } catch (error) {
      if (want > 0) this.claims -= 1;
      else this.riderOnlyCalls -= 1;
      this.reserved -= want;
      // Acks are idempotent: whether or not this call reached Redis, sending them again is
      // safe. Writes fail to their backend, as a store of its own would have.
      this.pendingAcks.unshift(...acks);
      for (const write of writes) write.fail(error as Error);
      this.retryLater(error as Error);
      return;
    }
    if (want > 0) this.claims -= 1;
    else this.riderOnlyCalls -= 1;
    this.reserved -= want;
    for (const write of writes) write.done();
    for (const batch of acks) {
      for (const tag of batch.tags) this.core.held.delete(tag);
      batch.resolve();
    }
    for (let i = 0; i < claimed.length; i += 3) {
      const number = Number(claimed[i]);
      const list = this.lists[Math.abs(number) - 1];
      if (!list) continue;
      if (number > 0) this.hand(list, String(claimed[i + 1]), String(claimed[i + 2]));
      else this.reportOversized(list, Number(claimed[i + 2]));
    }
    if (this.active && want > 0) {
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

  /** Whole batches of pending acks, up to MAX_ACKS acks (at least one batch: none holds more). */
  private takeAcks(): AckBatch[] {
    let count = 0;
    let taken = 0;
    while (taken < this.pendingAcks.length) {
      const size = this.pendingAcks[taken]!.tags.length;
      if (taken > 0 && count + size > MAX_ACKS) break;
      count += size;
      taken += 1;
    }
    return this.pendingAcks.splice(0, taken);
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
    if (this.idle()) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** Turns a claimed envelope into a delivery, or dead-letters it when it cannot be read. */
  private hand(list: QueueList, tag: string, envelope: string): void {
    const held: HeldDelivery = {
      tag,
      envelope,
      queue: list.queue,
      listKey: list.key,
      step: list.step,
    };
    this.core.held.set(tag, held);
    let decoded: ReturnType<typeof decodeDelivery>;
    try {
      decoded = decodeDelivery(envelope);
    } catch (error) {
      const reason = `malformed message: ${(error as Error).message}`;
      this.reportError(new Error(`Dead-lettered a ${reason} (queue ${list.queue}, tag ${tag})`));
      void this.settler
        .deadLetter(held, reason)
        .catch((failure: Error) => this.reportError(failure));
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

  /** The fetch script dead-lettered an envelope over the limit without reading it: say so once. */
  private reportOversized(list: QueueList, bytes: number): void {
    this.reportError(
      new Error(
        `Dead-lettered a message of ${bytes} bytes from queue ${list.queue} unread: over maxEnvelopeBytes ` +
          `(${this.core.settings.maxEnvelopeBytes}). It is kept whole in broker.deadLetters(${JSON.stringify(list.queue)}).`,
      ),
    );
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
