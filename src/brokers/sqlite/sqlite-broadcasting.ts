/**
 * Remote control and events on the SQLite broker: `send` appends the message to the
 * broadcast log (broadcast-store.ts) with its exchange and routing key; each broker
 * instance with listeners reads the log forward from its own cursor whenever the file
 * changes (the change feed: this process's writes at once, other processes' through the
 * WAL watch) and hands every row to the listeners whose exchange and binding it matches,
 * as a fanout, direct or topic exchange would (exchange-routing.ts). A listener sees only
 * messages sent after it started listening, and none older than its `messageTtlMs`: a
 * message nobody listens for is simply never read, and pruned. Reads are coalesced and
 * spaced `MIN_READ_GAP_MS` apart, so busy task traffic on the same file costs at most a
 * few small indexed reads a second. Never on the task hot path.
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
import type { ChangeFeed } from '../../connections/sqlite/change-feed.js';
import type { DbHandle } from '../../connections/sqlite/database.js';
import { BroadcastStore } from './broadcast-store.js';

/** Reads of the log are at least this far apart (ms): the latency a control reply may add. */
const MIN_READ_GAP_MS = 20;
/** Pause after a failed read (the file stayed busy past its timeout). */
const RETRY_MS = 250;

/**
 * The instances of this process with listeners, by file: a send wakes them directly,
 * without waking the file's task consumers through the change feed.
 */
const awake = new Map<string, Set<SqliteBroadcasting>>();

/** What the broadcasting needs from its broker: the open connection and the file's change feed. */
export interface BroadcastHost {
  /** Connects when needed (throws once the broker is closed). */
  connection(): { handle: DbHandle; feed: ChangeFeed; prefix: string };
}

interface Listener {
  spec: BroadcastQueueSpec;
  onMessage: (message: TransportMessage) => void;
  onError: ((error: Error) => void) | undefined;
  /** Rows up to this id were sent before it listened. */
  after: number;
}

export class SqliteBroadcasting implements Broadcasting {
  private store: BroadcastStore | undefined;
  private feed: ChangeFeed | undefined;
  private filename = '';
  private readonly listeners = new Set<Listener>();
  private cursor = 0;
  private unlisten: (() => void) | undefined;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private lastReadAt = 0;

  constructor(private readonly host: BroadcastHost) {}

  send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void> {
    try {
      const { store } = this.open();
      store.insert(exchange.name, routingKey, encodeEnvelope(message, randomUUID()), Date.now());
      // This process's listeners (of any broker instance on the file) read it now; other
      // processes' see the write through their change feed.
      for (const local of awake.get(this.filename) ?? []) local.wake();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(
        new CeleriacError(
          `Could not send to "${exchange.name}" on SQLite: ${(error as Error).message}`,
          { cause: error },
        ),
      );
    }
  }

  listen(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
    onError?: (error: Error) => void,
  ): Promise<BroadcastListener> {
    let listener: Listener;
    try {
      const { store, feed } = this.open();
      listener = { spec, onMessage, onError, after: store.lastId() };
      if (this.listeners.size === 0) {
        this.cursor = listener.after;
        this.unlisten = feed.listen(() => this.wake());
        let local = awake.get(this.filename);
        if (!local) awake.set(this.filename, (local = new Set()));
        local.add(this);
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.listeners.add(listener);
    return Promise.resolve({
      close: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0) this.stop();
        return Promise.resolve();
      },
    });
  }

  /** Stops every listener (the broker is closing). */
  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private open(): { store: BroadcastStore; feed: ChangeFeed } {
    if (!this.store || !this.feed) {
      const { handle, feed, prefix } = this.host.connection();
      this.store = new BroadcastStore(handle, prefix);
      this.feed = feed;
      this.filename = handle.location.filename;
    }
    return { store: this.store, feed: this.feed };
  }

  private stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    const local = awake.get(this.filename);
    local?.delete(this);
    if (local?.size === 0) awake.delete(this.filename);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
  }

  /** Schedules one read: on the next turn, or once the gap since the last read has passed. */
  wake(): void {
    if (this.scheduled || this.listeners.size === 0) return;
    this.scheduled = true;
    const wait = this.lastReadAt + MIN_READ_GAP_MS - Date.now();
    if (wait <= 0) setImmediate(() => this.read());
    else this.timer = setTimeout(() => this.read(), wait);
  }

  private read(): void {
    this.scheduled = false;
    this.timer = undefined;
    const store = this.store;
    if (this.listeners.size === 0 || !store) return;
    const now = Date.now();
    this.lastReadAt = now;
    let rows;
    try {
      rows = store.since(this.cursor);
    } catch (error) {
      this.report(
        new CeleriacError(`Reading SQLite broadcasts failed, retrying: ${String(error)}`),
      );
      this.scheduled = true;
      this.timer = setTimeout(() => this.read(), RETRY_MS);
      return;
    }
    for (const row of rows) {
      this.cursor = row.id;
      for (const listener of [...this.listeners]) {
        const { spec } = listener;
        if (row.id <= listener.after || spec.exchange.name !== row.exchange) continue;
        if (!routes(spec.exchange.type, spec.bindingKey, row.routing_key)) continue;
        if (spec.messageTtlMs !== undefined && row.sent_at + spec.messageTtlMs < now) continue;
        this.deliver(listener, row.envelope);
      }
    }
    if (BroadcastStore.full(rows)) this.wake();
  }

  private deliver(listener: Listener, envelope: string): void {
    let message: TransportMessage;
    try {
      message = decodeEnvelope(envelope);
    } catch (error) {
      listener.onError?.(error as Error);
      return;
    }
    try {
      listener.onMessage(message);
    } catch (error) {
      listener.onError?.(error as Error);
    }
  }

  private report(error: Error): void {
    for (const listener of this.listeners) listener.onError?.(error);
  }
}
