/**
 * Revocations for the rpc:// backend, which has no store to keep them in: a revoke is
 * broadcast as Celery's remote-control `revoke` (fanout exchange `celery.pidbox`, the body
 * and headers `celery control revoke` sends), so Python Celery workers honour it too, and
 * revokes from Python or from other Celeriac processes are heard on a queue of ours bound
 * to the same exchange. Like a Celery worker, a process knows the revokes it sent or heard
 * while running, for three hours (Celery's REVOKE_EXPIRES).
 *
 * Must never act on control messages other than `revoke`, and never answer them.
 */
import { randomUUID } from 'node:crypto';
import type * as Amqplib from 'amqplib';
import { parseCeleryJson, toPythonJson } from '../../protocol/index.js';
import type { JsonValue } from '../../protocol/types.js';
import type { AmqpConnection } from '../../connections/amqp/connection.js';
import type { ConfirmPublisher } from '../../connections/amqp/publisher.js';
import { toFieldTable, typedNumber } from '../../connections/amqp/field-table.js';

export const PIDBOX_EXCHANGE = 'celery.pidbox';
/** Celery keeps revoked ids this long (worker/state.py REVOKE_EXPIRES). */
const REVOKE_KEEP_MS = 10_800_000;
/** Python workers drop control messages past their `expires` header. */
const BROADCAST_TTL_S = 10;

type Listener = (taskId: string, terminate: boolean) => void;

export class Revocations {
  private readonly known = new Map<string, { terminate: boolean; until: number }>();
  private readonly listeners = new Set<Listener>();
  private clock = 0;
  private listening: Promise<void> | undefined;
  private removeHook: (() => void) | undefined;
  private readonly queue = `celeriac.revokes.${randomUUID()}`;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly publisher: ConfirmPublisher,
    private readonly timeoutMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  async revoke(taskIds: string[], terminate: boolean): Promise<void> {
    if (taskIds.length === 0) return;
    await this.declareExchange();
    const body = {
      method: 'revoke',
      arguments: {
        task_id: taskIds.length === 1 ? taskIds[0]! : taskIds,
        terminate,
        signal: 'SIGTERM',
      },
      destination: null,
      pattern: null,
      matcher: null,
    };
    this.clock += 1;
    await this.publisher.publish({
      exchange: PIDBOX_EXCHANGE,
      routingKey: '',
      mandatory: false, // a broadcast: no worker listening is fine
      content: Buffer.from(toPythonJson(body), 'utf8'),
      options: {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {
          clock: typedNumber(this.clock),
          expires: { '!': 'double', value: Date.now() / 1000 + BROADCAST_TTL_S },
        },
        deliveryMode: 2,
        priority: 0,
      },
    });
    for (const id of taskIds) this.learn(id, terminate);
  }

  /** One id, without building a set: workers ask before every task. */
  isRevoked(taskId: string): boolean {
    return (this.known.get(taskId)?.until ?? 0) > Date.now();
  }

  async onRevoke(listener: Listener): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    this.listening ??= this.listen().catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    await this.listening;
    return () => {
      this.listeners.delete(listener);
      return Promise.resolve();
    };
  }

  close(): void {
    this.removeHook?.();
  }

  /** Records a revoke and tells listeners, once per id and terminate flag. */
  private learn(taskId: string, terminate: boolean): void {
    const previous = this.known.get(taskId);
    this.known.set(taskId, {
      terminate: terminate || (previous?.terminate ?? false),
      until: Date.now() + REVOKE_KEEP_MS,
    });
    if (previous && (previous.terminate || !terminate)) return; // nothing new (e.g. our own broadcast coming back)
    for (const listener of [...this.listeners]) {
      try {
        listener(taskId, terminate);
      } catch (error) {
        this.onError(error as Error);
      }
    }
    if (this.known.size > 100_000) this.prune();
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, entry] of this.known) if (entry.until <= now) this.known.delete(id);
  }

  private async declareExchange(): Promise<Amqplib.ChannelModel> {
    const connection = await this.connection.ready(this.timeoutMs, 'Broadcasting a revoke');
    const channel = await connection.createChannel();
    try {
      await channel.assertExchange(PIDBOX_EXCHANGE, 'fanout', {
        durable: false,
        autoDelete: false,
      });
    } finally {
      await channel.close().catch(() => undefined);
    }
    return connection;
  }

  private async listen(): Promise<void> {
    await this.subscribe();
    this.removeHook = this.connection.onSetup(async () => {
      await this.subscribe().catch((error: Error) => this.onError(error));
    });
  }

  private async subscribe(): Promise<void> {
    const connection = await this.declareExchange();
    const channel = await connection.createChannel();
    channel.on('error', (error: Error) => this.onError(error));
    await channel.assertQueue(this.queue, {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: toFieldTable({ 'x-message-ttl': 300_000 }),
    });
    await channel.bindQueue(this.queue, PIDBOX_EXCHANGE, '');
    await channel.consume(this.queue, (message) => message && this.onMessage(message.content), {
      noAck: true,
    });
  }

  private onMessage(content: Buffer): void {
    let body: JsonValue;
    try {
      body = parseCeleryJson(content.toString('utf8'));
    } catch {
      return; // not ours to judge: other control messages may use other encodings
    }
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      body.method !== 'revoke'
    )
      return;
    const args = body.arguments;
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return;
    const ids = Array.isArray(args.task_id) ? args.task_id : [args.task_id];
    const terminate = args.terminate === true;
    for (const id of ids) if (typeof id === 'string') this.learn(id, terminate);
  }
}
