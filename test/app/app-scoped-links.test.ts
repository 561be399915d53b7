/**
 * The link between an app's broker and its result backend belongs to that app
 * (ResultBackend.attachBroker), never to the process: two apps in one process, each with
 * its own broker and backend, never cross. On Redis each app's results still ride with
 * its own broker's fetch calls (two databases, or one database under two prefixes); on
 * RabbitMQ (two key prefixes on one vhost) an rpc:// backend reads only the reply queues
 * of what its own app sent, and the worker sends each result to the `reply_to` of the
 * task message it ran.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import type { RedisBroker } from '../../src/brokers/redis/index.js';
import type { ResultCarrier } from '../../src/connections/redis/result-carrier.js';
import { AMQP_URL, REDIS_URL, requireService } from '../support/services.js';
import { deleteByPrefix, rawClient } from '../brokers/redis/redis-test-support.js';
import { openAdmin, uniqueName } from '../brokers/amqp/support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const silent = createLineLogger({ level: 'silent' });
const redisBase = REDIS_URL.replace(/\/\d*$/, '');

/** Records the key of every write handed to `carrier` from now on. */
function recordCarried(carrier: ResultCarrier): string[] {
  const keys: string[] = [];
  const carry = carrier.carry.bind(carrier);
  carrier.carry = (write) => {
    keys.push(write.key);
    carry(write);
  };
  return keys;
}

describe('two apps in one process', () => {
  it.for([
    ['two Redis databases', 3, 4],
    ['one Redis database under two key prefixes', 3, 3],
  ] as const)(
    '%s: each app’s results ride with its own broker’s fetch calls, never the other’s',
    async ([, dbA, dbB], ctx) => {
      await requireService(ctx, 'redis');
      const apps = [
        { db: dbA, prefix: `celeriac-test:links-${process.pid}-a-${dbA}${dbB}:` },
        { db: dbB, prefix: `celeriac-test:links-${process.pid}-b-${dbA}${dbB}:` },
      ].map(({ db, prefix }) => {
        const url = `${redisBase}/${db}`;
        const app = new Celeriac({ broker: url, backend: url, keyPrefix: prefix });
        app.task('test.where', () => prefix);
        const raw = rawClient(url);
        cleanups.push(async () => {
          await app.close();
          await deleteByPrefix(raw, prefix);
          raw.disconnect();
        });
        return { app, prefix, raw };
      });
      const carried: string[][] = [];
      // The second app's worker starts first: a process-wide registry would hand it the
      // first app's writes too.
      for (const entry of [...apps].reverse()) {
        const worker = new Worker(entry.app, { concurrency: 2, logger: silent });
        await worker.start();
        cleanups.push(() => worker.stop({ timeout: 5 }));
        const broker = (await entry.app.broker()) as RedisBroker;
        carried.unshift(recordCarried(broker.resultCarriers.current()!));
      }
      for (const [index, { app, prefix, raw }] of apps.entries()) {
        const sent = await Promise.all([1, 2, 3].map(() => app.sendTask('test.where')));
        for (const result of sent) {
          expect(await result.get({ timeout: 10 })).toBe(prefix);
          expect(await raw.get(`${prefix}celery-task-meta-${result.id}`)).not.toBeNull();
        }
        const keys = carried[index]!;
        for (const result of sent) expect(keys).toContain(`${prefix}celery-task-meta-${result.id}`);
        expect(keys.every((key) => key.startsWith(prefix))).toBe(true);
      }
    },
  );

  it('on RabbitMQ with rpc://, one app never reads the results of the other’s tasks', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const prefixA = `${uniqueName('links-a')}.`;
    const prefixB = `${uniqueName('links-b')}.`;
    const open = (keyPrefix: string) => {
      const app = new Celeriac({ broker: AMQP_URL, backend: 'rpc://', keyPrefix });
      cleanups.push(() => app.close());
      return app;
    };
    const caller = open(prefixA);
    const workerApp = open(prefixA);
    const other = open(prefixB);
    workerApp.task('test.echo', (text: string) => text);
    const admin = await openAdmin();
    cleanups.push(async () => {
      await admin.remove({
        queues: [caller.oid, other.oid, workerApp.oid, `${prefixA}celery`],
        exchanges: [`${prefixA}celery`],
      });
      await admin.close();
    });

    const sent = await caller.sendTask<string>('test.echo', ['from a']);
    const worker = new Worker(workerApp, { concurrency: 1, logger: silent });
    await worker.start();
    cleanups.push(() => worker.stop({ timeout: 5 }));
    // The worker sent the result to the caller's reply queue, named in the message.
    await expect.poll(() => admin.messageCount(caller.oid), { timeout: 10_000 }).toBe(1);

    // The other app knows nothing of the task: it must not read the caller's reply queue.
    expect(await other.asyncResult(sent.id).state()).toBe('PENDING');
    expect(await sent.get({ timeout: 10 })).toBe('from a');
  });
});
