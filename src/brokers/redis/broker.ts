/**
 * The Redis broker: wires the publisher, consumers, lease keeper, delayed promoter and
 * queue housekeeping around one command connection, and keeps kombu's layout so Celery
 * workers and clients share its queues. Must never close with a delivery it holds left
 * unrecorded: what is unsettled at close goes back to its queue first.
 */
import type {
  Broadcasting,
  Broker,
  BrokerCapabilities,
  Consumer,
  ConsumeOptions,
  PublishOptions,
  DeadLetterInfo,
  OldestMessage,
} from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import {
  closeConnection,
  connectChecked,
  openConnection,
  parseRedisUrl,
} from '../../connections/redis/connection.js';
import type { ResultCarriers } from '../../connections/redis/result-carrier.js';
import { RedisBroadcasting } from './broadcasting.js';
import { RedisConsumer } from './consumer.js';
import { RedisBrokerCore } from './core.js';
import { DelayedPromoter } from './delayed-promoter.js';
import { LeaseKeeper } from './lease-keeper.js';
import { resolveBrokerSettings, type RedisBrokerOptions } from './options.js';
import { RedisPublisher } from './publisher.js';
import { QueueAdmin } from './queue-admin.js';
import { DeliverySettler } from './settle.js';
import type { DeadLetterEntry } from './wire.js';

/** Connection errors repeat on every reconnect attempt; report at most one per this period. */
const ERROR_REPORT_INTERVAL_MS = 5_000;

export class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly capabilities: BrokerCapabilities = { delayedDelivery: true, deadLetter: true };
  readonly core: RedisBrokerCore;
  /** Where the app's Redis backend hands result writes to this broker's consumers (`attachBroker`). */
  readonly resultCarriers: ResultCarriers;
  /** Remote control and events: kombu's PUBLISH channels and pidbox reply lists. */
  readonly broadcasting: Broadcasting;
  private readonly fanout: RedisBroadcasting;
  private readonly publisher: RedisPublisher;
  private readonly settler: DeliverySettler;
  private readonly leases: LeaseKeeper;
  private readonly promoter: DelayedPromoter;
  private readonly admin: QueueAdmin;
  private readonly consumers = new Set<RedisConsumer>();
  private connecting: Promise<void> | undefined;
  /** The first connect succeeded (ioredis reconnects on its own after that). */
  private connected = false;
  private closed = false;
  private lastErrorReport = 0;

  /**
   * @example new RedisBroker('redis://localhost:6379/0', { leaseMs: 30_000 })
   */
  constructor(url: string, options: RedisBrokerOptions = {}) {
    const config = parseRedisUrl(url);
    const settings = resolveBrokerSettings(config, options);
    const client = openConnection(config, 'broker', (error) => this.reportConnectionError(error), {
      autoPipelining: true,
    });
    this.core = new RedisBrokerCore(client, config, settings, (error) => this.report(error));
    this.resultCarriers = this.core.carriers;
    this.promoter = new DelayedPromoter(this.core);
    // A process that delays a message promotes the set too, while it runs: queues that
    // only Celery workers consume then get their countdown messages without a Celeriac
    // consumer anywhere (its timers never keep the process alive).
    this.publisher = new RedisPublisher(this.core, (due) => {
      if (!this.closed) this.promoter.start();
      this.promoter.noteDue(due);
    });
    this.settler = new DeliverySettler(this.core, (due) => this.promoter.noteDue(due));
    this.leases = new LeaseKeeper(this.core);
    this.admin = new QueueAdmin(this.core);
    this.broadcasting = this.fanout = new RedisBroadcasting(this.core, () => this.connect());
  }

  connect(): Promise<void> {
    this.connecting ??= connectChecked(this.core.client, this.core.config).then(
      () => {
        this.connected = true;
        this.leases.startHeartbeat();
      },
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  /** Once connected, straight to the publisher: no async layer of its own on the way. */
  publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    if (this.connected) return this.publisher.publish(message, options);
    return this.connect().then(() => this.publisher.publish(message, options));
  }

  publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    if (this.connected) return this.publisher.publishMany(batch);
    return this.connect().then(() => this.publisher.publishMany(batch));
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    await this.connect();
    // Declare the queues as a kombu consumer does, so Celery tooling sees them bound.
    const pipeline = this.core.client.pipeline();
    for (const queue of options.queues)
      pipeline.sadd(this.core.keys.binding(queue), this.core.keys.bindingMember(queue, queue));
    await pipeline.exec();
    const consumer = new RedisConsumer(this.core, this.settler, options);
    this.consumers.add(consumer);
    this.leases.startRestoring();
    this.promoter.start();
    consumer.start();
    return consumer;
  }

  async purge(queue: string): Promise<number> {
    await this.connect();
    return this.admin.purge(queue);
  }

  async queueLength(queue: string): Promise<number> {
    await this.connect();
    return this.admin.queueLength(queue);
  }

  /** The publish time of the queue's next message, from its UUIDv7 delivery tag (queue-admin.ts). */
  async oldestMessageAt(queue: string): Promise<number | null | OldestMessage> {
    await this.connect();
    return this.admin.oldestMessageAt(queue);
  }

  /** Messages rejected without requeue from `queue`, newest first, with their reasons. */
  async deadLetters(queue: string, limit?: number): Promise<DeadLetterEntry[]> {
    await this.connect();
    return this.admin.deadLetters(queue, limit);
  }

  listDeadLetters(queue: string, limit: number): Promise<DeadLetterInfo[]> {
    return this.connect().then(() => this.admin.listDeadLetters(queue, limit));
  }

  redriveDeadLetters(queue: string, ids: readonly string[]): Promise<number> {
    return this.connect().then(() => this.admin.redriveDeadLetters(queue, ids));
  }

  /** Moves due delayed messages into their queues now (for a process that only schedules). */
  async promoteDue(): Promise<number> {
    await this.connect();
    return (await this.promoter.promoteDue()).moved;
  }

  /** Runs one restore pass now; returns how many deliveries went back to their queues. */
  async restoreStale(): Promise<number> {
    await this.connect();
    return this.leases.restorePass();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((consumer) => consumer.cancel()));
    await this.fanout.close();
    this.promoter.stop();
    if (this.connecting && this.core.client.status === 'ready') {
      // Give back what is still held, at the front of its queue, as kombu's warm shutdown does.
      await Promise.allSettled(
        [...this.core.held.values()].map((held) => this.settler.requeue(held, 'front')),
      );
    }
    this.leases.stop();
    await closeConnection(this.core.client);
  }

  private report(error: Error): void {
    for (const consumer of this.consumers) {
      if (consumer.isActive) {
        consumer.reportError(error);
        return;
      }
    }
  }

  private reportConnectionError(error: Error): void {
    const now = Date.now();
    if (now - this.lastErrorReport < ERROR_REPORT_INTERVAL_MS) return;
    this.lastErrorReport = now;
    this.report(
      new Error(`Redis connection to ${this.core.config.display}: ${error.message} (reconnecting)`),
    );
  }
}

/** The registry's factory for `redis://`, `rediss://` and `unix://` URLs. */
export function createRedisBroker(url: string, options: RedisBrokerOptions = {}): RedisBroker {
  return new RedisBroker(url, options);
}
