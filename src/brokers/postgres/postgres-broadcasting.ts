/**
 * Remote control and events on the PostgreSQL broker, over LISTEN/NOTIFY: `send` NOTIFYs
 * one channel per schema and table prefix with the message's exchange, routing key and
 * kombu envelope; each broker instance with listeners LISTENs on it (on the broker's own
 * LISTEN connection) and hands every notification to the listeners whose exchange and
 * binding it matches, as a fanout, direct or topic exchange would (exchange-routing.ts).
 * A NOTIFY payload holds at most 8000 bytes: a larger message (a big `inspect` reply) is
 * written to the `broadcasts` table and the notification carries only its id, exchange and
 * routing key, so only instances with a matching listener read the row. Rows are pruned
 * after `RETAIN_MS` by whoever sends the next large one. A listener sees only messages sent
 * after it started listening; a message nobody listens for is dropped, as Celery's are.
 * Notifications are handled in order, a large one's read included. Never on the task hot path.
 *
 * Payloads: `m␟<exchange>␟<routing key>␟<envelope>` or `r␟<exchange>␟<routing key>␟<id>`
 * (␟ is U+001F, which neither names nor JSON envelope text ever hold raw).
 */
import { randomUUID } from 'node:crypto';
import type {
  BroadcastListener,
  BroadcastQueueSpec,
  Broadcasting,
  ExchangeSpec,
} from '../broker.js';
import { routes } from '../exchange-routing.js';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { CeleriacError } from '../../errors.js';
import type { Queryable } from '../../connections/pg/db-client.js';
import type { NotifyListener } from '../../connections/pg/notify-listener.js';
import type { BrokerSql } from './broker-sql.js';

/** NOTIFY carries at most 8000 bytes; larger broadcasts go through the table. */
export const MAX_NOTIFY_BYTES = 7900;
/** How long a large broadcast's row is kept for listeners to read (ms). */
export const RETAIN_MS = 60_000;
const SEP = '\x1f';

/** What the broadcasting needs from its broker, once connected. */
export interface PgBroadcastHost {
  /** Connects when needed (rejects once the broker is closed). */
  connection(): Promise<{
    db: Queryable;
    listener: NotifyListener;
    sql: BrokerSql;
    channel: string;
  }>;
}

interface Listener {
  spec: BroadcastQueueSpec;
  onMessage: (message: TransportMessage) => void;
  onError: ((error: Error) => void) | undefined;
}

export class PostgresBroadcasting implements Broadcasting {
  private readonly listeners = new Set<Listener>();
  private unlisten: Promise<() => Promise<void>> | undefined;
  /** Notifications handled one after another, so a large one's read keeps its place. */
  private chain: Promise<void> = Promise.resolve();
  private prunedAt = 0;
  private closed = false;

  constructor(private readonly host: PgBroadcastHost) {}

  async send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void> {
    try {
      const { db, sql, channel } = await this.host.connection();
      const envelope = encodeEnvelope(message, randomUUID());
      const payload = ['m', exchange.name, routingKey, envelope].join(SEP);
      if (Buffer.byteLength(payload) <= MAX_NOTIFY_BYTES) {
        await db.query(sql.broadcast, [channel, payload]);
        return;
      }
      const now = Date.now();
      await db.query(sql.broadcastLarge, [exchange.name, routingKey, now, envelope, channel]);
      if (now - this.prunedAt >= 1000) {
        this.prunedAt = now;
        await db.query(sql.pruneBroadcasts, [now - RETAIN_MS]);
      }
    } catch (error) {
      throw new CeleriacError(
        `Could not send to "${exchange.name}" on PostgreSQL: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async listen(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError?: (error: Error) => void,
  ): Promise<BroadcastListener> {
    const { listener, channel } = await this.host.connection();
    const entry: Listener = { spec, onMessage, onError };
    this.listeners.add(entry);
    if (!this.unlisten) {
      const listening = listener.listen(channel, (payload) => this.receive(payload));
      this.unlisten = listening;
      try {
        await listening;
      } catch (error) {
        this.unlisten = undefined;
        this.listeners.delete(entry);
        throw error;
      }
    } else await this.unlisten;
    return {
      close: async () => {
        this.listeners.delete(entry);
        if (this.listeners.size === 0) await this.stop();
      },
    };
  }

  /** Stops every listener (the broker is closing). */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.stop();
  }

  private async stop(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    if (unlisten) await (await unlisten.catch(() => undefined))?.();
  }

  private receive(payload: string): void {
    const [kind, exchange, routingKey] = payload.split(SEP, 3);
    const rest = payload.slice(
      (kind?.length ?? 0) + (exchange?.length ?? 0) + (routingKey?.length ?? 0) + 3,
    );
    if (exchange === undefined || routingKey === undefined || (kind !== 'm' && kind !== 'r')) {
      this.report(
        new CeleriacError(`Ignored a malformed PostgreSQL broadcast: ${payload.slice(0, 80)}`),
      );
      return;
    }
    const targets = [...this.listeners].filter(
      ({ spec }) =>
        spec.exchange.name === exchange && routes(spec.exchange.type, spec.bindingKey, routingKey),
    );
    if (targets.length === 0) return;
    this.chain = this.chain.then(async () => {
      if (kind === 'm') return this.deliver(targets, rest);
      const row = await this.read(Number(rest));
      if (!row) return;
      const now = Date.now();
      this.deliver(
        targets.filter(
          ({ spec }) => spec.messageTtlMs === undefined || row.sent_at + spec.messageTtlMs >= now,
        ),
        row.envelope,
      );
    });
  }

  private async read(id: number): Promise<{ sent_at: number; envelope: string } | undefined> {
    try {
      const { db, sql } = await this.host.connection();
      const { rows } = await db.query<{ sent_at: number; envelope: string }>(sql.readBroadcast, [
        id,
      ]);
      return rows[0];
    } catch (error) {
      if (!this.closed)
        this.report(
          new CeleriacError(`Reading a large PostgreSQL broadcast failed: ${String(error)}`, {
            cause: error,
          }),
        );
      return undefined;
    }
  }

  private deliver(targets: readonly Listener[], envelope: string): void {
    let message: TransportMessage;
    try {
      message = decodeEnvelope(envelope);
    } catch (error) {
      for (const target of targets) target.onError?.(error as Error);
      return;
    }
    for (const target of targets) {
      if (!this.listeners.has(target)) continue;
      try {
        target.onMessage(message);
      } catch (error) {
        target.onError?.(error as Error);
      }
    }
  }

  private report(error: Error): void {
    for (const listener of this.listeners) listener.onError?.(error);
  }
}
