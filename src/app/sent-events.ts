/**
 * `task-sent` events from a client, as Celery sends them with `task_send_sent_event`:
 * after each publish, one event with the message's id, name, argument reprs, ETA, expiry
 * and queue, from a node named `gen<pid>@<host>` as Celery's clients are. Sent without
 * waiting: a lost event never fails a publish.
 */
import os from 'node:os';
import type { Broker } from '../brokers/broker.js';
import { sentEventFields } from '../protocol/events.js';
import type { TransportMessage } from '../protocol/types.js';
import { EventDispatcher } from './event-dispatcher.js';

export class SentEvents {
  private dispatcher: EventDispatcher | undefined;

  /** Sends one `task-sent` per message; does nothing on a broker without broadcasting. */
  note(broker: Broker, sent: ReadonlyArray<{ message: TransportMessage; queue: string }>): void {
    if (!broker.broadcasting) return;
    this.dispatcher ??= new EventDispatcher(broker.broadcasting, {
      hostname: `gen${process.pid}@${os.hostname()}`,
    });
    for (const { message, queue } of sent) {
      const h = message.headers;
      if (typeof h.id !== 'string' || typeof h.task !== 'string') continue;
      this.dispatcher.send(
        'task-sent',
        sentEventFields({
          uuid: h.id,
          root_id: typeof h.root_id === 'string' ? h.root_id : null,
          parent_id: typeof h.parent_id === 'string' ? h.parent_id : null,
          name: h.task,
          args: typeof h.argsrepr === 'string' ? h.argsrepr : '()',
          kwargs: typeof h.kwargsrepr === 'string' ? h.kwargsrepr : '{}',
          retries: typeof h.retries === 'number' ? h.retries : 0,
          eta: typeof h.eta === 'string' ? h.eta : null,
          expires: typeof h.expires === 'string' ? h.expires : null,
          queue,
          exchange: '',
          routing_key: queue,
        }),
      );
    }
  }

  /** Waits for the events in flight (before the app closes its broker). */
  async close(): Promise<void> {
    await this.dispatcher?.close();
    this.dispatcher = undefined;
  }
}
