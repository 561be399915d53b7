/**
 * The client side of Celery's remote control (kombu's Mailbox): broadcasts a command to the
 * `celery.pidbox` fanout exchange and, when replies are wanted, collects them from a reply
 * queue of its own (`<oid>.reply.celery.pidbox`) until the timeout or the expected number
 * of nodes answered. Python Celery workers and Celeriac workers answer it alike.
 */
import { randomUUID } from 'node:crypto';
import type { BroadcastQueueSpec, Broker, Broadcasting, ExchangeSpec } from '../brokers/broker.js';
import {
  CONTROL_NAMESPACE,
  CONTROL_QUEUE_EXPIRES_MS,
  CONTROL_QUEUE_TTL_MS,
  LamportClock,
  decodeControlReply,
  encodeControlRequest,
  pidboxExchange,
  replyExchange,
  replyQueue,
} from '../protocol/control.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';
import { BroadcastUnsupportedError } from '../errors.js';

/** One node's answer: `{ "<hostname>": <value> }`, as Celery's `broadcast(reply=True)` lists them. */
export type NodeReply = Record<string, JsonValue>;

export interface BroadcastOptions {
  arguments?: JsonObject | undefined;
  /** Node names the command is for. @default every node */
  destination?: string[] | undefined;
  /** Address nodes by name pattern instead (with `matcher`: `glob` or `pcre`). */
  pattern?: string | undefined;
  matcher?: 'glob' | 'pcre' | undefined;
  /** Wait for replies. @default true */
  reply?: boolean | undefined;
  /** Seconds to wait for replies. @default 1 (Celery's) */
  timeout?: number | undefined;
  /** Stop once this many nodes replied. @default the destination's length, else none */
  limit?: number | undefined;
  /** Called with each reply as it comes. */
  onReply?: ((reply: NodeReply) => void) | undefined;
}

export function pidboxExchangeSpec(namespace = CONTROL_NAMESPACE): ExchangeSpec {
  return { name: pidboxExchange(namespace), type: 'fanout', durable: false };
}
export function replyExchangeSpec(namespace = CONTROL_NAMESPACE): ExchangeSpec {
  return { name: replyExchange(namespace), type: 'direct', durable: false };
}

export class ControlClient {
  readonly oid = randomUUID();
  private readonly clock = new LamportClock();
  private readonly bus: Broadcasting;

  /** @throws BroadcastUnsupportedError when the broker has no broadcasting (SQLite). */
  constructor(
    broker: Broker,
    private readonly namespace = CONTROL_NAMESPACE,
  ) {
    if (!broker.broadcasting) throw new BroadcastUnsupportedError(broker.kind, 'Remote control');
    this.bus = broker.broadcasting;
  }

  /**
   * Sends `method` to the nodes and returns their replies (none when `reply: false`).
   * @example await client.broadcast('ping', { timeout: 1 }) // [{ 'w1@host': { ok: 'pong' } }]
   */
  async broadcast(method: string, options: BroadcastOptions = {}): Promise<NodeReply[]> {
    const wantReply = options.reply ?? true;
    const timeoutS = options.timeout ?? 1;
    const exchange = pidboxExchangeSpec(this.namespace);
    if (!wantReply) {
      await this.bus.send(exchange, '', this.request(method, options, null, timeoutS));
      return [];
    }
    const ticket = randomUUID();
    const limit = options.limit ?? (options.destination?.length || undefined);
    const replies: NodeReply[] = [];
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const spec: BroadcastQueueSpec = {
      name: replyQueue(this.oid, this.namespace),
      exchange: replyExchangeSpec(this.namespace),
      bindingKey: this.oid,
      messageTtlMs: CONTROL_QUEUE_TTL_MS,
      expiresMs: CONTROL_QUEUE_EXPIRES_MS,
    };
    const listener = await this.bus.listen(spec, (message) => {
      let reply;
      try {
        reply = decodeControlReply(message);
      } catch {
        return;
      }
      this.clock.adjust(reply.clock);
      if (reply.ticket !== null && reply.ticket !== ticket) return;
      const entry: NodeReply = { [reply.hostname]: reply.value };
      replies.push(entry);
      options.onReply?.(entry);
      if (limit !== undefined && replies.length >= limit) done();
    });
    const timer = setTimeout(done, timeoutS * 1000);
    try {
      await this.bus.send(exchange, '', this.request(method, options, ticket, timeoutS));
      await finished;
    } finally {
      clearTimeout(timer);
      await listener.close();
    }
    return replies;
  }

  private request(
    method: string,
    options: BroadcastOptions,
    ticket: string | null,
    timeoutS: number,
  ) {
    return encodeControlRequest({
      method,
      arguments: options.arguments,
      destination: options.destination ?? null,
      pattern: options.pattern ?? null,
      matcher: options.matcher ?? null,
      ticket,
      replyTo: ticket ? { exchange: replyExchange(this.namespace), routingKey: this.oid } : null,
      clock: this.clock.forward(),
      timeout: timeoutS,
      namespace: this.namespace,
    });
  }
}
