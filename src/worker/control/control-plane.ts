/**
 * A worker's control plane over the broker's broadcasting: its pidbox node (listens on
 * `<hostname>.celery.pidbox`, bound to the `celery.pidbox` fanout; runs the commands
 * addressed to it; replies to the sender's reply queue with the request's ticket), and its
 * events: worker-online / worker-heartbeat every 2 s / worker-offline, and task events
 * when on (`-E`). Nothing here runs per task except the event sink, and only when on.
 * A bad control message gets one log line and is dropped; the worker goes on.
 */
import os from 'node:os';
import type { BroadcastListener, Broker } from '../../brokers/broker.js';
import { EventDispatcher } from '../../app/event-dispatcher.js';
import { pidboxExchangeSpec } from '../../app/control-client.js';
import {
  CONTROL_QUEUE_EXPIRES_MS,
  CONTROL_QUEUE_TTL_MS,
  decodeControlRequest,
  encodeControlReply,
  isAddressedTo,
  pidboxQueue,
  type ControlRequest,
} from '../../protocol/control.js';
import { WORKER_HEARTBEAT_SECONDS, heartbeatEventFields } from '../../protocol/events.js';
import type { Logger } from '../../logger.js';
import { VERSION } from '../../version.js';
import { runCommand } from './commands.js';
import type { ControlTarget } from './target.js';
import { TaskEventSink } from '../events/task-events.js';

export interface ControlPlaneOptions {
  /** Answer remote control. @default true */
  remoteControl: boolean;
  /** Send worker-online / heartbeat / offline. @default true (as Celery without --without-heartbeat) */
  workerEvents: boolean;
  /** Send task events from the start (`-E`). */
  taskEvents: boolean;
  logger: Logger;
}

export class ControlPlane {
  private readonly dispatcher: EventDispatcher | undefined;
  private listener: BroadcastListener | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private processed = 0;
  /** The sink the executor calls; undefined while task events are off. */
  taskEvents: TaskEventSink | undefined;
  private readonly sink: TaskEventSink | undefined;

  private constructor(
    private readonly target: ControlTarget,
    private readonly broker: Broker,
    private readonly options: ControlPlaneOptions,
  ) {
    const bus = broker.broadcasting;
    if (bus && (options.workerEvents || options.taskEvents || options.remoteControl)) {
      this.dispatcher = new EventDispatcher(bus, {
        hostname: target.hostname,
        bufferGroups: ['task'],
        onError: (error) => options.logger.warn(`Could not send an event: ${error.message}`),
      });
      this.sink = new TaskEventSink(this.dispatcher);
      if (options.taskEvents) this.taskEvents = this.sink;
    }
  }

  /** Starts listening and announces the worker; a broker without broadcasting gets one info line. */
  static async start(
    target: ControlTarget,
    broker: Broker,
    options: ControlPlaneOptions,
  ): Promise<ControlPlane> {
    const plane = new ControlPlane(target, broker, options);
    const bus = broker.broadcasting;
    if (!bus) {
      if (options.taskEvents)
        options.logger.warn(
          `Task events are off: the ${broker.kind} broker has no fanout (use Redis, RabbitMQ or SQLite).`,
        );
      options.logger.info(
        `Remote control and events are off: the ${broker.kind} broker has no fanout.`,
      );
      return plane;
    }
    if (options.remoteControl) {
      plane.listener = await bus.listen(
        {
          name: pidboxQueue(target.hostname),
          exchange: pidboxExchangeSpec(),
          bindingKey: '',
          messageTtlMs: CONTROL_QUEUE_TTL_MS,
          expiresMs: CONTROL_QUEUE_EXPIRES_MS,
        },
        (message) => void plane.onRequest(message),
        (error) => options.logger.warn(`Remote control: ${error.message}`),
      );
    }
    if (options.workerEvents) {
      plane.workerEvent('worker-online');
      plane.scheduleHeartbeat();
    }
    return plane;
  }

  /** Counts a task run to its end, for the heartbeat's `processed`. */
  noteProcessed(): void {
    this.processed++;
  }

  /** Turns task events on or off (`enable_events` / `disable_events`); true when it changed. */
  setTaskEvents(on: boolean): boolean {
    if (!this.sink || (this.taskEvents !== undefined) === on) return false;
    this.taskEvents = on ? this.sink : undefined;
    return true;
  }

  /** The `heartbeat` command: one heartbeat now, as Celery's (freq 5, software fields). */
  sendHeartbeat(): void {
    this.dispatcher?.send('worker-heartbeat', { freq: 5, ...softwareInfo() });
  }

  /** Stops listening and says worker-offline. */
  async stop(): Promise<void> {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.listener?.close().catch(() => undefined);
    this.listener = undefined;
    if (this.dispatcher) {
      if (this.options.workerEvents) this.workerEvent('worker-offline');
      await this.dispatcher.close();
    }
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(() => {
      this.workerEvent('worker-heartbeat');
      this.scheduleHeartbeat();
    }, WORKER_HEARTBEAT_SECONDS * 1000);
    this.heartbeatTimer.unref();
  }

  private workerEvent(type: string): void {
    this.dispatcher?.send(
      type,
      heartbeatEventFields({
        freq: WORKER_HEARTBEAT_SECONDS,
        active: this.target.activeCount,
        processed: this.processed,
        loadavg: os.loadavg().map((load) => Math.round(load * 100) / 100),
        ...softwareInfo(),
      }),
    );
    if (type !== 'worker-heartbeat') this.dispatcher?.flush();
  }

  private async onRequest(message: Parameters<typeof decodeControlRequest>[0]): Promise<void> {
    let request: ControlRequest;
    try {
      request = decodeControlRequest(message);
    } catch (error) {
      this.options.logger.warn(`Remote control: ${(error as Error).message}`);
      return;
    }
    if (!isAddressedTo(request, this.target.hostname)) return;
    const clock = this.dispatcher!.clock;
    clock.adjust(request.clock);
    this.options.logger.debug(`Remote control: ${request.method} (ticket ${request.ticket})`);
    let value;
    try {
      value = await runCommand(
        { target: this.target, clock, transport: this.broker.kind },
        request.method,
        request.arguments,
      );
    } catch (error) {
      this.options.logger.error(
        `Remote control ${request.method} failed: ${(error as Error).message}`,
      );
      value = { error: `${(error as Error).name}(${JSON.stringify((error as Error).message)})` };
    }
    if (!request.replyTo) return;
    const reply = encodeControlReply(
      { hostname: this.target.hostname, value, ticket: request.ticket, clock: clock.forward() },
      request.replyTo,
    );
    const exchange = { name: request.replyTo.exchange, type: 'direct' as const, durable: false };
    await this.broker.broadcasting
      ?.send(exchange, request.replyTo.routingKey, reply)
      .catch((error: Error) =>
        this.options.logger.warn(
          `Remote control: could not reply to ${request.method}: ${error.message}`,
        ),
      );
  }
}

/** Celery's SOFTWARE_INFO, for Celeriac. */
function softwareInfo(): { sw_ident: string; sw_ver: string; sw_sys: string } {
  const type = os.type();
  return {
    sw_ident: 'celeriac',
    sw_ver: VERSION,
    sw_sys: type === 'Windows_NT' ? 'Windows' : type,
  };
}
