/**
 * The shared state of one `memory://<name>` broker store in this process: ready queues,
 * delayed messages, dead letters and the consumers of every connection, and the pump that
 * hands ready messages to consumers with a free prefetch slot. Dropped when the last
 * connection closes. Must never decode a message: it moves them.
 */
import type { TransportMessage } from '../../protocol/types.js';
import { PriorityQueue } from './priority-queue.js';

/** A message as the store holds it. */
export interface StoredMessage {
  message: TransportMessage;
  queue: string;
  priority: number;
  redelivered: boolean;
}

export interface DeadLetter {
  message: TransportMessage;
  reason: string | undefined;
  /** Unix ms it was dead-lettered. */
  at: number;
}

/** What a consumer registers with the store. */
export interface StoreConsumer {
  readonly queues: readonly string[];
  /** Whether it may take one more delivery now. */
  hasRoom(): boolean;
  take(stored: StoredMessage): void;
}

/** A copy, so neither side can change the other's message after a publish or a delivery. */
export function copyMessage(message: TransportMessage): TransportMessage {
  return {
    ...message,
    body: Buffer.from(message.body),
    headers: structuredClone(message.headers),
    properties: structuredClone(message.properties),
  };
}

export class MemoryBrokerStore {
  private readonly ready = new Map<string, PriorityQueue<StoredMessage>>();
  /** Held until `at`, earliest first. */
  private delayed: Array<{ at: number; stored: StoredMessage }> = [];
  private readonly dead = new Map<string, DeadLetter[]>();
  private readonly consumers: StoreConsumer[] = [];
  /** Deliveries handed out and not settled, per queue (for `activity`). */
  private readonly unsettled = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  /** Deliveries made since the store was created. */
  delivered = 0;
  connections = 0;

  private queueOf(name: string): PriorityQueue<StoredMessage> {
    let queue = this.ready.get(name);
    if (!queue) this.ready.set(name, (queue = new PriorityQueue()));
    return queue;
  }

  /** Makes a message ready (`front`: ahead of its priority's others), or holds it until `at`. */
  put(stored: StoredMessage, at?: number, front = false): void {
    if (at !== undefined && at > Date.now()) {
      const index = this.delayed.findIndex((held) => held.at > at);
      if (index === -1) this.delayed.push({ at, stored });
      else this.delayed.splice(index, 0, { at, stored });
      this.armTimer();
      return;
    }
    this.queueOf(stored.queue).add(stored, stored.priority, front);
    this.schedulePump();
  }

  deadLetter(stored: StoredMessage, reason: string | undefined): void {
    const list = this.dead.get(stored.queue) ?? [];
    list.push({ message: stored.message, reason, at: Date.now() });
    this.dead.set(stored.queue, list);
  }

  deadLetters(queue: string): DeadLetter[] {
    return [...(this.dead.get(queue) ?? [])];
  }

  /** Ready and delayed messages of `queue` go; in-flight ones stay with their consumers. */
  purge(queue: string): number {
    const before = this.delayed.length;
    this.delayed = this.delayed.filter((held) => held.stored.queue !== queue);
    return (this.ready.get(queue)?.clear() ?? 0) + before - this.delayed.length;
  }

  length(queue: string): number {
    return this.ready.get(queue)?.length ?? 0;
  }

  /** What is left to do in `queues`: ready, handed out and unsettled, held for later. */
  activity(queues: readonly string[]): {
    ready: number;
    unsettled: number;
    delayed: number;
    nextDeliverAt: number | undefined;
  } {
    const names = new Set(queues);
    const delayed = this.delayed.filter((held) => names.has(held.stored.queue));
    return {
      ready: queues.reduce((sum, queue) => sum + this.length(queue), 0),
      unsettled: queues.reduce((sum, queue) => sum + (this.unsettled.get(queue) ?? 0), 0),
      delayed: delayed.length,
      nextDeliverAt: delayed[0]?.at,
    };
  }

  addConsumer(consumer: StoreConsumer): void {
    this.consumers.push(consumer);
    this.schedulePump();
  }

  removeConsumer(consumer: StoreConsumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index !== -1) this.consumers.splice(index, 1);
  }

  /** A delivery was settled or handed back: count it and let consumers take more. */
  settled(queue: string): void {
    this.unsettled.set(queue, (this.unsettled.get(queue) ?? 1) - 1);
    this.schedulePump();
  }

  /** A consumer gained room (a release): serve it. */
  schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // After the caller's turn, so a publish or settle never runs a consumer's code inside it.
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Hands ready messages to consumers with room, one at a time in turn, until none fits. */
  private pump(): void {
    let progress = true;
    while (progress) {
      progress = false;
      for (let i = 0; i < this.consumers.length; i++) {
        const consumer = this.consumers[i]!;
        if (!consumer.hasRoom()) continue;
        const stored = this.nextFor(consumer.queues);
        if (!stored) continue;
        // Rotate so the next message goes to the next consumer (fair sharing of one queue).
        this.consumers.push(...this.consumers.splice(0, i + 1));
        this.unsettled.set(stored.queue, (this.unsettled.get(stored.queue) ?? 0) + 1);
        this.delivered += 1;
        consumer.take(stored);
        progress = true;
        break;
      }
    }
  }

  private nextFor(queues: readonly string[]): StoredMessage | undefined {
    for (const name of queues) {
      const stored = this.ready.get(name)?.shift();
      if (stored) return stored;
    }
    return undefined;
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    const first = this.delayed[0];
    if (!first) return;
    this.timer = setTimeout(() => this.promote(), Math.max(0, first.at - Date.now()));
    // Held messages alone must not keep a process (a test run) alive.
    this.timer.unref();
  }

  private promote(): void {
    const now = Date.now();
    while (this.delayed[0] && this.delayed[0].at <= now) {
      const { stored } = this.delayed.shift()!;
      this.queueOf(stored.queue).add(stored, stored.priority);
    }
    this.schedulePump();
    this.armTimer();
  }
}

const stores = new Map<string, MemoryBrokerStore>();

/** The store named `name`, created on first use; `release` it when the connection closes. */
export function acquireStore(name: string): MemoryBrokerStore {
  let store = stores.get(name);
  if (!store) stores.set(name, (store = new MemoryBrokerStore()));
  store.connections += 1;
  return store;
}

export function releaseStore(name: string, store: MemoryBrokerStore): void {
  store.connections -= 1;
  if (store.connections > 0 || stores.get(name) !== store) return;
  store.close();
  stores.delete(name);
}
