/**
 * Wakes an idle consumer the moment one of its lists receives a message, without polling
 * and without taking the message: each list gets a dedicated connection blocked in
 * `BLMOVE list list RIGHT RIGHT`, which returns as soon as the list is non-empty and leaves
 * it unchanged (it moves the last element onto itself). The consumer then claims through
 * its Lua script. Redis has no multi-key blocking command that does not pop, hence one
 * connection per list. Must never pop a message: a killed process would lose it.
 */
import type { Redis } from 'ioredis';
import {
  closeConnection,
  openConnection,
  type RedisUrlConfig,
} from '../../connections/redis/connection.js';

/** Seconds a BLMOVE blocks before it is re-issued (keeps dead sockets from hiding). */
const BLOCK_SECONDS = 10;

interface ListWatch {
  key: string;
  connection: Redis | undefined;
  blocked: boolean;
}

export class ListWaiter {
  private readonly watches: ListWatch[];
  private wanted = false;
  private closed = false;

  constructor(
    private readonly config: RedisUrlConfig,
    keys: readonly string[],
    private readonly onWake: () => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.watches = keys.map((key) => ({ key, connection: undefined, blocked: false }));
  }

  /** Start (or keep) waiting on every list; `onWake` fires when one has a message. */
  arm(): void {
    if (this.closed) return;
    this.wanted = true;
    for (const watch of this.watches) if (!watch.blocked) this.block(watch);
  }

  /**
   * Stop re-arming (the consumer is full). Blocked commands stay until they return, so a
   * later `arm` costs nothing; they do not spin because a returned watch waits for `arm`.
   */
  disarm(): void {
    this.wanted = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wanted = false;
    await Promise.all(
      this.watches.map(async (watch) => {
        const connection = watch.connection;
        watch.connection = undefined;
        if (connection) await closeConnection(connection);
      }),
    );
  }

  private block(watch: ListWatch): void {
    const connection = (watch.connection ??= openConnection(this.config, 'wait', (error) =>
      this.onError(error),
    ));
    watch.blocked = true;
    connection.blmove(watch.key, watch.key, 'RIGHT', 'RIGHT', BLOCK_SECONDS).then(
      (result) => {
        watch.blocked = false;
        if (this.closed) return;
        if (result !== null) this.onWake();
        else if (this.wanted) this.block(watch);
      },
      (error: Error) => {
        watch.blocked = false;
        if (this.closed) return;
        this.onError(error);
        // Give the connection time to come back rather than spin on a failing command.
        setTimeout(() => {
          if (this.wanted && !watch.blocked) this.block(watch);
        }, 250).unref();
      },
    );
  }
}
