/**
 * What the rpc:// result backend must learn from the AMQP brokers of the same process,
 * because the backend contract does not carry it: the broker URL (`rpc://` names no server:
 * Celery's rpc backend talks to the broker's RabbitMQ) and, per task id, the reply queue
 * (`reply_to`) and `correlation_id` of the task message, from the messages this process
 * published (the caller's side) and received (the worker's side).
 *
 * A process-wide, bounded memory: it holds ids and queue names only, never message bodies,
 * and forgets the oldest entries first. Must never be needed for anything but rpc://.
 */

export interface ReplyRoute {
  /** The caller's reply queue (Celery: the app's oid). */
  replyTo: string;
  /** Celery sets it to the task id. */
  correlationId: string;
}

/** Enough for every task in flight of a busy process; older entries are long settled. */
const MAX_ROUTES = 100_000;

class ReplyRoutes {
  /**
   * Set once an rpc:// backend exists in this process. Until then, what consumers receive
   * need not be remembered (a worker creates its backend before it starts consuming).
   */
  rpcInUse = false;
  private readonly published = new Map<string, ReplyRoute>();
  private readonly delivered = new Map<string, ReplyRoute>();
  private readonly urls: string[] = [];

  /** A connected AMQP broker's URL, most recent last. */
  noteBrokerUrl(url: string): void {
    const index = this.urls.indexOf(url);
    if (index >= 0) this.urls.splice(index, 1);
    this.urls.push(url);
  }

  /** The URL of the most recently connected AMQP broker of this process, if any. */
  brokerUrl(): string | undefined {
    return this.urls.at(-1);
  }

  /** A task message this process sent: its results come back to `replyTo`. */
  notePublished(taskId: string, route: ReplyRoute): void {
    remember(this.published, taskId, route);
  }

  /** A task message this process received: its results go to `replyTo`. */
  noteDelivered(taskId: string, route: ReplyRoute): void {
    if (this.rpcInUse) remember(this.delivered, taskId, route);
  }

  /** Where the caller of a task this process sent listens for its results. */
  publishedRoute(taskId: string): ReplyRoute | undefined {
    return this.published.get(taskId);
  }

  /** Where the results of a task this process received must be sent. */
  deliveredRoute(taskId: string): ReplyRoute | undefined {
    return this.delivered.get(taskId);
  }
}

function remember(map: Map<string, ReplyRoute>, taskId: string, route: ReplyRoute): void {
  map.delete(taskId); // re-inserting moves it to the newest end
  map.set(taskId, route);
  if (map.size > MAX_ROUTES) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

/** The process's one table, shared by every AMQP broker and rpc:// backend in it. */
export const replyRoutes = new ReplyRoutes();
