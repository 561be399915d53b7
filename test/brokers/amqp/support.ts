/**
 * Helpers for the RabbitMQ tests: unique names, a raw amqplib admin connection to inspect
 * and delete what a test declared, and `rabbitmqctl` to close a client's connections from
 * the server side (a stand-in for a RabbitMQ restart, which the shared server cannot take).
 * Must never touch queues or connections a test did not create (names are unique per test).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type * as Amqplib from 'amqplib';
// Through our loader, so amqplib is patched for py-amqp's 64-bit tag whatever loads first.
import { amqplib } from '../../../src/connections/amqp/amqplib.js';
import type { JsonValue } from '../../../src/protocol/types.js';
import { AMQP_URL } from '../../support/services.js';

const run = promisify(execFile);

export { AMQP_URL };

export function uniqueName(label: string): string {
  return `t-${label}-${randomUUID().slice(0, 8)}`;
}

export interface Admin {
  channel: Amqplib.Channel;
  /** Deletes queues and exchanges by name; missing ones are fine. */
  remove(names: { queues?: string[]; exchanges?: string[] }): Promise<void>;
  /** Takes every ready message of a queue (acking them). */
  drain(queue: string): Promise<Amqplib.GetMessage[]>;
  /** Ready messages in a queue; 0 while it does not exist yet (the delay levels appear on first use). */
  messageCount(queue: string): Promise<number>;
  close(): Promise<void>;
}

export async function openAdmin(): Promise<Admin> {
  const connection = await amqplib.connect(AMQP_URL, {
    clientProperties: { connection_name: 'celeriac-test-admin' },
  });
  let channel = await connection.createChannel();
  // A delete of something missing can close the channel: reopen on demand.
  const fresh = async (): Promise<Amqplib.Channel> => {
    channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return channel;
  };
  channel.on('error', () => undefined);
  const admin: Admin = {
    get channel() {
      return channel;
    },
    async remove({ queues = [], exchanges = [] }) {
      for (const queue of queues) await channel.deleteQueue(queue).catch(fresh);
      for (const exchange of exchanges) await channel.deleteExchange(exchange).catch(fresh);
    },
    async drain(queue) {
      const messages: Amqplib.GetMessage[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (!message) return messages;
        messages.push(message);
      }
    },
    async messageCount(queue) {
      try {
        return (await channel.checkQueue(queue)).messageCount;
      } catch {
        await fresh(); // a check of a missing queue closes the channel
        return 0;
      }
    },
    async close() {
      await connection.close().catch(() => undefined);
    },
  };
  return admin;
}

/** Closes, from the server side, every connection whose connection_name is `name`. */
export async function closeConnectionsNamed(
  name: string,
  reason = 'celeriac test: simulated outage',
): Promise<number> {
  const { stdout } = await run('rabbitmqctl', [
    'list_connections',
    'pid',
    'client_properties',
    '--no-table-headers',
    '-q',
  ]);
  const pids = stdout
    .split('\n')
    // rabbitmqctl prints client properties as Erlang terms: {"connection_name","<name>"}.
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0]!.trim())
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids)
    await run('rabbitmqctl', ['close_connection', pid, reason]).catch(() => undefined);
  return pids.length;
}

/** Whether `rabbitmqctl` can reach the server from here (it needs the Erlang cookie). */
export async function rabbitmqctlUsable(): Promise<string | null> {
  try {
    await run('rabbitmqctl', ['list_connections', 'pid', '-q'], { timeout: 20_000 });
    return null;
  } catch (error) {
    return `rabbitmqctl unusable: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** Runs a Python snippet with the system interpreter (Debian's python3-celery, python3-amqp). */
export async function runPython(
  code: string,
  args: string[] = [],
  timeoutMs = 30_000,
): Promise<string> {
  const { stdout } = await run('/usr/bin/python3', ['-c', code, ...args], {
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

export async function pythonHas(module: string): Promise<string | null> {
  try {
    await run('/usr/bin/python3', ['-c', `import ${module}`], { timeout: 20_000 });
    return null;
  } catch {
    return `/usr/bin/python3 cannot import ${module}`;
  }
}

export type Json = JsonValue;
