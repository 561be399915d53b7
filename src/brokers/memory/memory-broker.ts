/**
 * The `memory://` broker: one connection to a named store in this process's memory, for
 * tests and examples. Queues with priorities, prefetch, ack / reject / defer / release,
 * delayed delivery and dead letters, all native. Closing a connection gives its unsettled
 * deliveries back, flagged redelivered. Nothing survives the process: never use it where
 * a task must not be lost.
 */
import type {
  Broadcasting,
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  Delivery,
  PublishOptions,
} from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import {
  acquireStore,
  copyMessage,
  releaseStore,
  type DeadLetter,
  type MemoryBrokerStore,
  type StoreConsumer,
  type StoredMessage,
} from './memory-store.js';
import { MemoryBroadcasting } from './memory-broadcasting.js';

const CAPABILITIES: BrokerCapabilities = {
  delayedDelivery: true,
  deadLetter: true,
};

export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  readonly capabilities = CAPABILITIES;
  private store: MemoryBrokerStore | undefined;
  private readonly consumers = new Set<MemoryConsumer>();
  /** Deliveries of this connection not settled yet, given back on close. */
  readonly unsettled = new Set<MemoryDelivery>();

  /** Remote control and events between the app, workers and clients of this process. */
  readonly broadcasting: Broadcasting;

  /** @param name the store's name within this process (`memory://<name>`). */
  constructor(readonly name: string = '') {
    this.broadcasting = new MemoryBroadcasting(name);
  }

  private get shared(): MemoryBrokerStore {
    if (!this.store)
      throw new Error(`The memory broker "${this.name}" is not connected: call connect() first.`);
    return this.store;
  }

  connect(): Promise<void> {
    this.store ??= acquireStore(this.name);
    return Promise.resolve();
  }

  publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    const priority = Math.max(0, Math.min(255, Math.round(options.priority ?? 0)));
    this.shared.put(
      { message: copyMessage(message), queue: options.queue, priority, redelivered: false },
      options.deliverAt,
    );
    return Promise.resolve();
  }

  async publishMany(
    batch: ReadonlyArray<{ message: TransportMessage; options: PublishOptions }>,
  ): Promise<void> {
    for (const { message, options } of batch) await this.publish(message, options);
  }

  consume(options: ConsumeOptions): Promise<Consumer> {
    const consumer = new MemoryConsumer(this, this.shared, options);
    this.consumers.add(consumer);
    this.shared.addConsumer(consumer);
    return Promise.resolve(consumer);
  }

  purge(queue: string): Promise<number> {
    return Promise.resolve(this.shared.purge(queue));
  }

  queueLength(queue: string): Promise<number> {
    return Promise.resolve(this.shared.length(queue));
  }

  /** The dead letters of a queue, oldest first (rejected without requeue). */
  deadLetters(queue: string): Promise<DeadLetter[]> {
    return Promise.resolve(this.shared.deadLetters(queue));
  }

  /**
   * What is left to do in `queues` across every connection to this store: messages ready,
   * delivered and not settled, and held for later (with the earliest time one is due).
   */
  activity(queues: readonly string[]): {
    ready: number;
    unsettled: number;
    delayed: number;
    nextDeliverAt: number | undefined;
  } {
    return this.shared.activity(queues);
  }

  /** Deliveries made by this store since it was created (every connection's). */
  get deliveredCount(): number {
    return this.shared.delivered;
  }

  forgetConsumer(consumer: MemoryConsumer): void {
    this.consumers.delete(consumer);
  }

  close(): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    for (const consumer of [...this.consumers]) consumer.stop();
    // What this connection held goes back first in line, as a broker does for a dropped connection.
    for (const delivery of [...this.unsettled].reverse()) delivery.giveBack();
    this.store = undefined;
    releaseStore(this.name, store);
    return Promise.resolve();
  }
}

export class MemoryConsumer implements Consumer, StoreConsumer {
  readonly queues: readonly string[];
  /** Deliveries held that count against the prefetch (unsettled and not released). */
  held = 0;
  private active = true;
  private prefetch: number;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly store: MemoryBrokerStore,
    private readonly options: ConsumeOptions,
  ) {
    this.queues = [...options.queues];
    this.prefetch = Math.max(1, options.prefetch);
  }

  hasRoom(): boolean {
    return this.active && this.held < this.prefetch;
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = Math.max(1, Math.floor(prefetch));
    this.store.schedulePump();
  }

  take(stored: StoredMessage): void {
    this.held += 1;
    const delivery = new MemoryDelivery(stored, this, this.store, this.broker.unsettled);
    this.broker.unsettled.add(delivery);
    try {
      this.options.onDelivery(delivery);
    } catch (error) {
      this.options.onError?.(error as Error);
    }
  }

  /** A delivery no longer counts against the prefetch. */
  freeSlot(): void {
    this.held -= 1;
    this.store.schedulePump();
  }

  cancel(): Promise<void> {
    this.stop();
    return Promise.resolve();
  }

  stop(): void {
    this.active = false;
    this.store.removeConsumer(this);
    this.broker.forgetConsumer(this);
  }
}

export class MemoryDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly queue: string;
  readonly redelivered: boolean;
  private done = false;
  private released = false;

  constructor(
    private readonly stored: StoredMessage,
    private readonly consumer: MemoryConsumer,
    private readonly store: MemoryBrokerStore,
    private readonly owner: Set<MemoryDelivery>,
  ) {
    this.message = copyMessage(stored.message);
    this.queue = stored.queue;
    this.redelivered = stored.redelivered;
  }

  ack(): Promise<void> {
    this.settle();
    return Promise.resolve();
  }

  reject(options: { requeue: boolean; reason?: string }): Promise<void> {
    if (this.settle()) {
      if (options.requeue) this.store.put({ ...this.stored, redelivered: true }, undefined, true);
      else this.store.deadLetter(this.stored, options.reason);
    }
    return Promise.resolve();
  }

  defer(deliverAt: number): Promise<void> {
    if (this.settle()) this.store.put({ ...this.stored, redelivered: false }, deliverAt);
    return Promise.resolve();
  }

  release(): void {
    if (this.done || this.released) return;
    this.released = true;
    this.consumer.freeSlot();
  }

  /** The connection closed with this delivery unsettled: it goes back, flagged redelivered. */
  giveBack(): void {
    if (this.settle()) this.store.put({ ...this.stored, redelivered: true }, undefined, true);
  }

  /** Marks the delivery settled; false when it already was (a second settle does nothing). */
  private settle(): boolean {
    if (this.done) return false;
    this.done = true;
    this.owner.delete(this);
    if (!this.released) this.consumer.freeSlot();
    this.store.settled(this.queue);
    return true;
  }
}
