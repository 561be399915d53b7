/**
 * The dashboard's dead letters on SQLite, Redis, PostgreSQL and RabbitMQ (with
 * `deadLetter`), the brokers that keep them: a real
 * worker dead-letters a message of an unknown task, the page lists it under its queue,
 * redrive asks for a confirmation that counts the letters, then puts the message back in
 * its queue exactly once (a second redrive of the same letter moves nothing). Each test
 * has its own SQLite file, Redis key prefix, PostgreSQL schema or RabbitMQ vhost, removed
 * afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { createDashboard } from '../../src/web/dashboard/index.js';
import { requireService, REDIS_URL } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { deleteByPrefix, rawClient } from '../brokers/redis/redis-test-support.js';
import { createVhost, requireVhosts } from '../support/rabbitmq-vhost.js';

const CSRF = 'abcdefghijklmnopqrstuvwx';
const post = (body: string) =>
  new Request('http://shop.example/dashboard/dead-letters', {
    method: 'POST',
    headers: { cookie: `celeriac_csrf=${CSRF}` },
    body: `csrf=${CSRF}&${body}`,
  });

async function openApp(
  kind: 'sqlite' | 'redis' | 'postgres' | 'amqp',
  test: TestContext,
): Promise<Celeriac> {
  if (kind === 'amqp') {
    await requireVhosts(test);
    const vhost = await createVhost('dashdead');
    const app = new Celeriac({ broker: `${vhost.url}?deadLetter=true` });
    test.onTestFinished(async () => {
      await app.close();
      await vhost.dispose();
    });
    return app;
  }
  if (kind === 'postgres') {
    await requireService(test, 'postgres');
    const pg = testSchema('deadletters');
    const app = new Celeriac({ broker: pg.url, backend: pg.url });
    test.onTestFinished(async () => {
      await app.close();
      await pg.drop();
    });
    return app;
  }
  if (kind === 'redis') {
    await requireService(test, 'redis');
    const keyPrefix = `celeriac-test:${randomUUID()}:`;
    const app = new Celeriac({ broker: REDIS_URL, backend: REDIS_URL, keyPrefix });
    test.onTestFinished(async () => {
      await app.close();
      const raw = rawClient();
      await deleteByPrefix(raw, keyPrefix);
      raw.disconnect();
    });
    return app;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-dead-'));
  const app = new Celeriac({ broker: `sqlite://${path.join(dir, 'shop.db')}` });
  test.onTestFinished(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  return app;
}

describe.each(['sqlite', 'redis', 'postgres', 'amqp'] as const)(
  'dashboard dead letters on %s',
  (kind) => {
    it('lists a dead letter and redrives it back to its queue once, after a confirmation', async (test) => {
      const app = await openApp(kind, test);
      const worker = new Worker(app, {
        hostname: `w1@dead-${kind}`,
        logger: createLineLogger({ level: 'silent' }),
      });
      await worker.start();
      const lost = await app.sendTask('shop.unknown', [1]);
      const broker = await app.broker();
      await vi.waitFor(
        async () => expect((await broker.listDeadLetters!('celery', 10)).length).toBe(1),
        { timeout: 15_000 },
      );
      await worker.stop({ timeout: 5 });
      const dashboard = createDashboard(app, { allowAnonymous: true });
      const page = await (await dashboard(
        new Request('http://shop.example/dashboard/dead-letters'),
      ))!.text();
      const [letter] = await broker.listDeadLetters!('celery', 10);
      expect(page).toContain(`data-letter="${letter!.id}"`);
      expect(page).toContain('shop.unknown');
      expect(page).toContain(lost.id);
      const confirm = await (await dashboard(post('queue=celery&action=redrive-all')))!.text();
      expect(confirm).toContain('redrive 1 dead letter back to queue celery');
      expect(await broker.queueLength('celery')).toBe(0);
      const done = await (await dashboard(
        post(`queue=celery&action=redrive&id=${letter!.id}&confirm=yes`),
      ))!.text();
      expect(done).toContain('1 dead letter(s) back to queue celery');
      expect(await broker.queueLength('celery')).toBe(1);
      expect(await broker.listDeadLetters!('celery', 10)).toEqual([]);
      const again = await (await dashboard(
        post(`queue=celery&action=redrive&id=${letter!.id}&confirm=yes`),
      ))!.text();
      expect(again).toContain('0 dead letter(s) back to queue celery');
      expect(await broker.queueLength('celery')).toBe(1);
    });
  },
);
