/**
 * Sends Celery events (`celeryev`) through the broker's broadcasting, as Celery's
 * EventDispatcher does: every event gets the sender's hostname, pid, Lamport clock,
 * utcoffset and timestamp; task events may be buffered and sent as one `task.multi` list
 * (at most `bufferLimit` per message, flushed on the next turn of the event loop), as a
 * Celery worker with an event loop sends them. A failed send is logged once per burst and
 * dropped: events are advisory and must never fail or slow a task.
 */
import type { Broadcasting, ExchangeSpec } from '../brokers/broker.js';
import {
  EVENT_EXCHANGE,
  buildEvent,
  encodeEventMessage,
  eventGroup,
  type CeleryEvent,
} from '../protocol/events.js';
import { LamportClock } from '../protocol/control.js';
import type { JsonValue } from '../protocol/types.js';

/** `celeryev` as Celery declares it: a durable topic exchange. */
export const EVENT_EXCHANGE_SPEC: ExchangeSpec = {
  name: EVENT_EXCHANGE,
  type: 'topic',
  durable: true,
};

export interface EventDispatcherOptions {
  hostname: string;
  /** Groups whose events are buffered into `<group>.multi` batches. @default none */
  bufferGroups?: readonly string[];
  /** Events per batch. @default 24 (Celery's buffer_limit) */
  bufferLimit?: number;
  clock?: LamportClock;
  /** Told of a failed send (at most once a second). */
  onError?: (error: Error) => void;
}

export class EventDispatcher {
  readonly hostname: string;
  readonly clock: LamportClock;
  /** Off: `send` does nothing (the `disable_events` command turns task events off). */
  readonly disabledGroups = new Set<string>();
  private readonly buffers = new Map<string, CeleryEvent[]>();
  private readonly bufferGroups: ReadonlySet<string>;
  private readonly bufferLimit: number;
  private flushScheduled = false;
  private lastErrorAt = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly broadcasting: Broadcasting,
    private readonly options: EventDispatcherOptions,
  ) {
    this.hostname = options.hostname;
    this.clock = options.clock ?? new LamportClock();
    this.bufferGroups = new Set(options.bufferGroups ?? []);
    this.bufferLimit = Math.max(1, options.bufferLimit ?? 24);
  }

  /** Sends (or buffers) one event of `type` with its own fields. */
  send(type: string, fields: { [key: string]: JsonValue | undefined }): void {
    const group = eventGroup(type);
    if (this.disabledGroups.has(group)) return;
    const event = buildEvent(type, fields, {
      hostname: this.hostname,
      pid: process.pid,
      clock: this.clock.forward(),
    });
    if (!this.bufferGroups.has(group)) {
      this.publish(event);
      return;
    }
    let buffer = this.buffers.get(group);
    if (!buffer) {
      buffer = [];
      this.buffers.set(group, buffer);
    }
    buffer.push(event);
    if (buffer.length >= this.bufferLimit) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is buffered now. */
  flush(): void {
    this.flushScheduled = false;
    for (const [group, events] of this.buffers) {
      if (events.length === 0) continue;
      this.buffers.set(group, []);
      this.publish(events);
    }
  }

  /** Flushes and waits for every send in flight. */
  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.pending]);
  }

  private publish(events: CeleryEvent | CeleryEvent[]): void {
    const { message, routingKey } = encodeEventMessage(events, this.hostname);
    const sent = this.broadcasting
      .send(EVENT_EXCHANGE_SPEC, routingKey, message)
      .catch((error: Error) => {
        const now = Date.now();
        if (now - this.lastErrorAt < 1000) return;
        this.lastErrorAt = now;
        this.options.onError?.(error);
      })
      .finally(() => this.pending.delete(sent));
    this.pending.add(sent);
  }
}
