/**
 * Worker events (Celery's `task-*` and `worker-*` events, sent by workers started with
 * `-E`) as a dashboard feed: a page hears of a task the moment a worker reports it, instead
 * of at the listing's next read. One event queue serves every open stream, made on the
 * first listener and dropped with the last. A broker without broadcasting, or one that
 * fails, leaves the feed silent: the listing feed beside it still carries every change.
 */
import type { Broker } from '../../brokers/broker.js';
import { receiveEvents } from '../../app/event-receiver.js';
import { TASK_EVENT_STATES } from '../../protocol/events.js';
import type { DashboardEvent, DashboardEventFeed } from './live.js';

/** What a feed that never started has to stop. */
const silent = (): Promise<void> => Promise.resolve();

export function workerEventsFeed(broker: () => Promise<Broker>): DashboardEventFeed {
  const listeners = new Set<(event: DashboardEvent) => void>();
  let stopping: Promise<() => Promise<void>> | undefined;
  const tell = (event: DashboardEvent) => {
    for (const listener of listeners) listener(event);
  };
  const start = () =>
    broker()
      .then((b) =>
        b.broadcasting
          ? receiveEvents(
              b,
              (event) => {
                const state = TASK_EVENT_STATES[event.type];
                if (state) tell({ taskId: event.uuid, state });
                else if (event.type.startsWith('worker-')) tell({});
              },
              { onError: () => undefined, wakeup: false },
            )
          : silent,
      )
      .catch(() => silent);
  return {
    subscribe(listener) {
      listeners.add(listener);
      stopping ??= start();
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0 || !stopping) return;
        const stop = stopping;
        stopping = undefined;
        void stop.then((close) => close()).catch(() => undefined);
      };
    },
  };
}
