/**
 * Publishes with publisher confirms: a publish resolves only when RabbitMQ has confirmed
 * it holds the message (written to disk for durable queues). During an outage a publish
 * waits, up to its deadline, for the connection to come back and is sent again; after the
 * deadline it fails with BrokerConnectionError, so the caller always knows.
 *
 * Messages are published `mandatory`: one RabbitMQ cannot route (its queue was deleted)
 * comes back and fails the publish instead of vanishing behind a positive confirm.
 *
 * Must never resolve before the confirm, and never drop a publish silently. A message
 * whose confirm was lost with the connection is sent again: at least once, possibly twice
 * (Celery does the same; task ids make duplicates recognisable).
 */
import type * as Amqplib from 'amqplib';
import { BrokerConnectionError } from '../../errors.js';
import type { AmqpConnection } from './connection.js';

/** RabbitMQ answered with basic.nack: it will not take the message (e.g. a full queue). */
export class PublishRejectedError extends BrokerConnectionError {}

/**
 * RabbitMQ returned the message (basic.return): no queue is bound for its routing key, e.g.
 * the queue was deleted after we declared it. Published `mandatory`, so this is never silent.
 */
export class UnroutableError extends PublishRejectedError {}

/** How often publishes past their deadline are failed. */
const DEADLINE_SWEEP_MS = 100;

/** One publish, or one batch of them, awaiting confirms on a channel. */
interface Waiting {
  deadline: number;
  expire: () => void;
  channel: Amqplib.ConfirmChannel;
  /**
   * Marks the oldest publish of this entry still awaiting its confirm with this route as
   * returned (basic.return comes before the message's confirm); false if none matches.
   */
  claimReturn(exchange: string, routingKey: string): boolean;
}

/** A publish of a batch on one attempt: undefined until its confirm (or failure) came. */
interface BatchEntry {
  index: number;
  settled: boolean;
  returned: boolean;
}

/** Per publication of a batch: undefined when confirmed, else why not. */
export type BatchOutcome = Array<Error | undefined>;

export interface Publication {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Amqplib.Options.Publish;
  /**
   * Runs on each attempt, once the channel of the connection it will be sent on is open:
   * declares what the message needs on that connection (after a reconnection, again).
   */
  prepare?: () => Promise<void> | undefined;
  /** Fail when no queue takes it. @default true; false for broadcasts nobody may hear. */
  mandatory?: boolean;
}

export class ConfirmPublisher {
  /** The confirm channel of the current connection; `open` once it is. */
  private channel:
    | { epoch: number; promise: Promise<Amqplib.ConfirmChannel>; open?: Amqplib.ConfirmChannel }
    | undefined;
  /** Set while amqplib's write buffer is full: later publishes wait for 'drain'. */
  private drained: Promise<void> | undefined;
  private readonly waiting = new Set<Waiting>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly timeoutMs: number,
    private readonly describe: string,
  ) {}

  /** Resolves once RabbitMQ confirmed; retries across reconnections until the deadline. */
  async publish(publication: Publication, deadline = Date.now() + this.timeoutMs): Promise<void> {
    let lastError: Error | undefined;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.timedOut(publication, lastError);
      try {
        const ready =
          this.channel?.epoch === this.connection.epoch && this.connection.isReady
            ? this.channel.open
            : undefined;
        const channel = ready ?? (await this.openChannel(remaining));
        const preparing = publication.prepare?.();
        if (preparing) await preparing;
        await this.send(channel, publication, deadline);
        return;
      } catch (error) {
        // Rejected by RabbitMQ, or out of time: final. Anything else means the channel or
        // connection closed before the confirm: send again on the next one.
        if (error instanceof BrokerConnectionError) throw error;
        lastError = error as Error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const channel = this.channel;
    this.channel = undefined;
    if (channel)
      await (await channel.promise.catch(() => undefined))?.close().catch(() => undefined);
  }

  private async send(
    channel: Amqplib.ConfirmChannel,
    p: Publication,
    deadline: number,
  ): Promise<void> {
    while (this.drained) await this.drained;
    await new Promise<void>((resolve, reject) => {
      let returned = false;
      const waiting: Waiting = {
        deadline,
        expire: () => reject(this.timedOut(p, undefined)),
        channel,
        claimReturn: (exchange, routingKey) => {
          if (returned || exchange !== p.exchange || routingKey !== p.routingKey) return false;
          return (returned = true);
        },
      };
      this.waiting.add(waiting);
      this.watchDeadlines();
      const where = `${p.exchange || '(default exchange)'} / ${p.routingKey}`;
      const onConfirm = (error: unknown) => {
        this.waiting.delete(waiting);
        if (!error && returned) {
          reject(
            new UnroutableError(`RabbitMQ had no queue for ${where} and returned the message.`),
          );
        } else if (!error) {
          resolve();
        } else if (error instanceof Error && error.message === 'message nacked') {
          reject(
            new PublishRejectedError(
              `RabbitMQ refused the message for ${where} (basic.nack): the queue may be full ` +
                '(x-overflow reject-publish) or the server failed to store it.',
            ),
          );
        } else reject(error instanceof Error ? error : new Error('publish failed'));
      };
      let written: boolean;
      try {
        const options = { ...p.options, mandatory: p.mandatory ?? true };
        written = channel.publish(p.exchange, p.routingKey, p.content, options, onConfirm);
      } catch (error) {
        this.waiting.delete(waiting); // amqplib throws at once when the channel is already closed.
        reject(error instanceof Error ? error : new Error('publish failed'));
        return;
      }
      if (!written) void this.waitForDrain(channel);
    });
  }

  /** amqplib's buffer is full: later publishes wait until it is written out, as amqplib asks. */
  private waitForDrain(channel: Amqplib.ConfirmChannel): Promise<void> {
    if (this.drained) return this.drained;
    return (this.drained = new Promise<void>((release) => {
      const done = () => {
        channel.removeListener('drain', done);
        channel.removeListener('close', done);
        this.drained = undefined;
        release();
      };
      channel.once('drain', done);
      channel.once('close', done);
    }));
  }

  /**
   * Publishes every publication, pipelined on one channel, each confirmed on its own, with
   * one promise and one deadline for the lot rather than one each; `prepare` runs once per
   * attempt (declaring what all of them need). Those whose channel closed before their
   * confirm are sent again on the next connection, until the deadline. Never rejects:
   * resolves with each one's outcome, undefined once confirmed.
   */
  async publishBatch(
    publications: readonly Omit<Publication, 'prepare'>[],
    prepare: () => Promise<void> | undefined,
    deadline = Date.now() + this.timeoutMs,
  ): Promise<BatchOutcome> {
    const outcome: BatchOutcome = new Array<Error | undefined>(publications.length);
    let pending = publications.map((_, i) => i);
    let lastError: Error | undefined;
    while (pending.length > 0) {
      if (deadline - Date.now() <= 0) {
        for (const i of pending) outcome[i] = this.timedOut(publications[i]!, lastError);
        break;
      }
      try {
        const ready =
          this.channel?.epoch === this.connection.epoch && this.connection.isReady
            ? this.channel.open
            : undefined;
        const channel = ready ?? (await this.openChannel(deadline - Date.now()));
        const preparing = prepare();
        if (preparing) await preparing;
        const again = await this.sendBatch(channel, publications, pending, deadline, outcome);
        if (again.length === 0) break;
        lastError = outcome[again[0]!];
        pending = again;
      } catch (error) {
        if (error instanceof BrokerConnectionError) {
          for (const i of pending) outcome[i] = error;
          break;
        }
        lastError = error as Error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return outcome;
  }

  /**
   * One attempt at a batch: sends the `indices` publications and waits for their confirms.
   * Fills `outcome` for the final ones; returns the indices to send again (their channel
   * closed before the confirm).
   */
  private async sendBatch(
    channel: Amqplib.ConfirmChannel,
    publications: readonly Omit<Publication, 'prepare'>[],
    indices: readonly number[],
    deadline: number,
    outcome: BatchOutcome,
  ): Promise<number[]> {
    while (this.drained) await this.drained;
    const entries: BatchEntry[] = [];
    const again: number[] = [];
    let open = indices.length;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const waiting: Waiting = {
      deadline,
      channel,
      expire: () => {
        for (const entry of entries) {
          if (entry.settled) continue;
          entry.settled = true;
          outcome[entry.index] = this.timedOut(publications[entry.index]!, undefined);
        }
        open = 0;
        finish();
      },
      claimReturn: (exchange, routingKey) => {
        for (const entry of entries) {
          const p = publications[entry.index]!;
          if (entry.settled || entry.returned) continue;
          if (p.exchange !== exchange || p.routingKey !== routingKey) continue;
          return (entry.returned = true);
        }
        return false;
      },
    };
    this.waiting.add(waiting);
    this.watchDeadlines();
    const settle = (entry: BatchEntry, error: unknown) => {
      if (entry.settled) return;
      entry.settled = true;
      const p = publications[entry.index]!;
      const where = `${p.exchange || '(default exchange)'} / ${p.routingKey}`;
      if (!error && entry.returned) {
        outcome[entry.index] = new UnroutableError(
          `RabbitMQ had no queue for ${where} and returned the message.`,
        );
      } else if (!error) {
        outcome[entry.index] = undefined;
      } else if (error instanceof Error && error.message === 'message nacked') {
        outcome[entry.index] = new PublishRejectedError(
          `RabbitMQ refused the message for ${where} (basic.nack): the queue may be full ` +
            '(x-overflow reject-publish) or the server failed to store it.',
        );
      } else {
        // The channel closed before the confirm: sent again on the next one.
        outcome[entry.index] = error instanceof Error ? error : new Error('publish failed');
        again.push(entry.index);
      }
      if (--open === 0) finish();
    };
    for (let k = 0; k < indices.length; k++) {
      const entry: BatchEntry = { index: indices[k]!, settled: false, returned: false };
      const p = publications[entry.index]!;
      entries.push(entry);
      let written: boolean;
      try {
        const options = { ...p.options, mandatory: p.mandatory ?? true };
        written = channel.publish(p.exchange, p.routingKey, p.content, options, (error) =>
          settle(entry, error),
        );
      } catch (error) {
        // The channel is closed: this one and every one not sent go again.
        for (let rest = k; rest < indices.length; rest++) {
          const index = indices[rest]!;
          if (rest > k) entries.push({ index, settled: false, returned: false });
          settle(
            entries[entries.length - 1]!,
            error instanceof Error ? error : new Error('closed'),
          );
        }
        break;
      }
      if (!written) await this.waitForDrain(channel);
    }
    await finished;
    this.waiting.delete(waiting);
    return again;
  }

  /**
   * Marks the publish a basic.return belongs to: the oldest one awaiting its confirm on that
   * channel with the same exchange and routing key (returns come in publish order).
   */
  private onReturn(channel: Amqplib.ConfirmChannel, message: Amqplib.Message): void {
    const { exchange, routingKey } = message.fields;
    for (const waiting of this.waiting) {
      if (waiting.channel === channel && waiting.claimReturn(exchange, routingKey)) return;
    }
  }

  /**
   * One timer for all publishes awaiting a confirm (a timer each would cost more than the
   * publish): while any wait, it fails those past their deadline. A confirm that never
   * comes on a live connection means RabbitMQ is blocked or stuck.
   */
  private watchDeadlines(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const waiting of this.waiting) {
        if (waiting.deadline <= now) {
          this.waiting.delete(waiting);
          waiting.expire();
        }
      }
      if (this.waiting.size === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, DEADLINE_SWEEP_MS);
  }

  private async openChannel(timeoutMs: number): Promise<Amqplib.ConfirmChannel> {
    const connection = await this.connection.ready(timeoutMs, this.describe);
    const epoch = this.connection.epoch;
    if (this.channel && this.channel.epoch === epoch) return this.channel.promise;
    const entry: {
      epoch: number;
      promise: Promise<Amqplib.ConfirmChannel>;
      open?: Amqplib.ConfirmChannel;
    } = {
      epoch,
      promise: connection.createConfirmChannel().then((channel) => {
        channel.on('error', () => undefined); // Pending confirms fail with 'channel closed'.
        channel.on('return', (message: Amqplib.Message) => this.onReturn(channel, message));
        channel.on('close', () => {
          if (this.channel === entry) this.channel = undefined;
        });
        entry.open = channel;
        return channel;
      }),
    };
    const promise = entry.promise;
    this.channel = entry;
    promise.catch(() => {
      if (this.channel === entry) this.channel = undefined;
    });
    return promise;
  }

  private timedOut(p: Publication, cause: Error | undefined): BrokerConnectionError {
    const blocked = this.connection.blocked;
    const why = blocked
      ? `RabbitMQ is blocking publishers (${blocked})`
      : cause
        ? `last error: ${cause.message}`
        : 'no confirm from RabbitMQ';
    return new BrokerConnectionError(
      `${this.describe} to ${p.exchange || '(default exchange)'} / ${p.routingKey} was not confirmed within ` +
        `${this.timeoutMs} ms (${why}). It may or may not have been stored; publish again if in doubt.`,
      { cause },
    );
  }
}
