/**
 * What an app's rpc:// result backend learns from the app's AMQP broker, as Celery's rpc
 * backend uses its app's broker connection: the broker URL (`rpc://` names no server) and,
 * per task id this broker published, the reply queue (`reply_to`) and `correlation_id` the
 * message named, so the caller knows which reply queue to read for a task. The worker's
 * side needs none of it: it passes the `reply_to` of the message it runs in the store
 * options.
 *
 * One table per broker, handed to the backend by the app that owns both
 * (ResultBackend.attachBroker): two apps in one process never share one. A bounded memory:
 * it holds ids and queue names only, never message bodies, and forgets the oldest first.
 * Must never be needed for anything but rpc://.
 */

export interface ReplyRoute {
  /** The caller's reply queue (Celery: the app's oid). */
  replyTo: string;
  /** Celery sets it to the task id. */
  correlationId: string;
}

/** Enough for every task in flight of a busy process; older entries are long settled. */
const MAX_ROUTES = 100_000;

export class ReplyRoutes {
  private readonly published = new Map<string, ReplyRoute>();

  constructor(
    /** The broker's URL: where an rpc:// backend without a server of its own connects. */
    readonly brokerUrl: string,
  ) {}

  /** A task message the broker sent: its results come back to `replyTo`. */
  notePublished(taskId: string, route: ReplyRoute): void {
    this.published.delete(taskId); // re-inserting moves it to the newest end
    this.published.set(taskId, route);
    if (this.published.size > MAX_ROUTES) {
      const oldest = this.published.keys().next();
      if (!oldest.done) this.published.delete(oldest.value);
    }
  }

  /** Where the caller of a task the broker sent listens for its results. */
  publishedRoute(taskId: string): ReplyRoute | undefined {
    return this.published.get(taskId);
  }
}

/** The reply routes of `broker` if it is an AMQP broker (any broker the app may hand a backend). */
export function replyRoutesOf(broker: object): ReplyRoutes | undefined {
  const routes = (broker as { replyRoutes?: unknown }).replyRoutes;
  return routes instanceof ReplyRoutes ? routes : undefined;
}
