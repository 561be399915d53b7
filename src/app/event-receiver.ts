/**
 * Receives Celery events as Celery's EventReceiver does: a queue of its own
 * (`celeryev.<uuid>`, auto-deleted, messages kept 5 s, the queue 60 s unused) bound to
 * `celeryev` with `#`; single events and `task.multi` batches are handed on one by one.
 * On start it broadcasts `heartbeat` so every worker announces itself at once.
 */
import { randomUUID } from 'node:crypto';
import type { BroadcastListener, Broker } from '../brokers/broker.js';
import {
  EVENT_QUEUE_EXPIRES_MS,
  EVENT_QUEUE_PREFIX,
  EVENT_QUEUE_TTL_MS,
  decodeEventMessage,
  type CeleryEvent,
} from '../protocol/events.js';
import { BroadcastUnsupportedError } from '../errors.js';
import { EVENT_EXCHANGE_SPEC } from './event-dispatcher.js';
import { ControlClient } from './control-client.js';

export interface EventReceiverOptions {
  /** `#` for every event, `worker.#` for worker events only. @default '#' */
  bindingKey?: string;
  /** Ask the workers for a heartbeat at start. @default true */
  wakeup?: boolean;
  onError?: (error: Error) => void;
}

/**
 * @example
 *   const stop = await receiveEvents(await app.broker(), (event) => console.log(event.type));
 *   await stop();
 */
export async function receiveEvents(
  broker: Broker,
  onEvent: (event: CeleryEvent) => void,
  options: EventReceiverOptions = {},
): Promise<() => Promise<void>> {
  const bus = broker.broadcasting;
  if (!bus) throw new BroadcastUnsupportedError(broker.kind, 'Receiving events');
  const onError = options.onError ?? (() => undefined);
  const listener: BroadcastListener = await bus.listen(
    {
      name: `${EVENT_QUEUE_PREFIX}.${randomUUID()}`,
      exchange: EVENT_EXCHANGE_SPEC,
      bindingKey: options.bindingKey ?? '#',
      messageTtlMs: EVENT_QUEUE_TTL_MS,
      expiresMs: EVENT_QUEUE_EXPIRES_MS,
    },
    (message) => {
      let events: CeleryEvent[];
      try {
        events = decodeEventMessage(message);
      } catch (error) {
        onError(error as Error);
        return;
      }
      for (const event of events) onEvent(event);
    },
    onError,
  );
  if (options.wakeup ?? true)
    await new ControlClient(broker).broadcast('heartbeat', { reply: false }).catch(onError);
  return () => listener.close();
}
