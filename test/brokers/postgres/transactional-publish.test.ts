/**
 * Enqueue inside the user's own transaction: a task sent with `{ transaction: client }`
 * exists only if that transaction commits: rollback, no task and no wake-up; commit,
 * exactly one delivery. With a plain pg.Client, a pg.PoolClient, and a structural
 * `{ query }` wrapper such as the one under Kysely or Drizzle; other brokers refuse.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Celeriac, TransactionalPublishUnsupportedError } from '../../../src/index.js';
import { TransactionClientError } from '../../../src/brokers/postgres/index.js';
import { sleep } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { PG_BASE_URL } from '../../support/postgres.js';
import { openShop } from './orders-fixture.js';
import { removeDb, tempDbPath } from '../sqlite/temp-db.js';

let shop: Awaited<ReturnType<typeof openShop>> | undefined;
const closers: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await shop?.close();
  shop = undefined;
});

async function setup(label: string) {
  shop = await openShop(label);
  const orders = async () => (await shop!.orderIds()).length;
  return { ...shop, sendEmail: shop.sendReceipt, orders };
}

describe('publishing inside the caller’s PostgreSQL transaction', () => {
  it('rollback leaves no task and wakes nobody; commit delivers exactly one (pg.Client)', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { sendEmail, broker, inbox, client, orders, table } = await setup('txclient');

    await client.query('BEGIN');
    await client.query(`INSERT INTO ${table} (id) VALUES (1)`);
    await sendEmail.applyAsync([1], { transaction: client });
    await client.query('ROLLBACK');
    await sleep(300);
    expect(await orders()).toBe(0);
    expect(await broker.queueLength('celery')).toBe(0);
    expect(inbox.ids).toEqual([]);

    await client.query('BEGIN');
    await client.query(`INSERT INTO ${table} (id) VALUES (2)`);
    const sent = await sendEmail.applyAsync([2], { transaction: client });
    await sleep(300);
    expect(inbox.ids).toEqual([]); // not visible before the commit
    await client.query('COMMIT');
    const [delivery] = await inbox.waitCount(1, 3000);
    expect(delivery!.message.headers.id).toBe(sent.id);
    await delivery!.ack();
    await sleep(200);
    expect(inbox.ids).toEqual([sent.id]);
    expect(await orders()).toBe(1);
  });

  it('works with a pooled client and with a { query } wrapper (the client under Kysely or Drizzle), sendMany included', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { app, sendEmail, inbox, table } = await setup('txpool');
    const pool = new pg.Pool({ connectionString: PG_BASE_URL, max: 2 });
    closers.push(() => pool.end());

    const pooled = await pool.connect();
    await pooled.query('BEGIN');
    await pooled.query(`INSERT INTO ${table} (id) VALUES (10)`);
    await app.sendMany([
      { task: sendEmail, args: [10], options: { transaction: pooled } },
      { task: sendEmail, args: [11], options: { transaction: pooled } },
    ]);
    await pooled.query('ROLLBACK');
    await pooled.query('BEGIN');
    // What a query builder hands over: any object with query(text, values).
    const wrapper = { query: (text: string, values?: unknown[]) => pooled.query(text, values) };
    const kept = await sendEmail.applyAsync([12], { transaction: wrapper });
    await pooled.query('COMMIT');
    pooled.release();

    const [delivery] = await inbox.waitCount(1, 3000);
    await delivery!.ack();
    await sleep(300);
    expect(inbox.ids).toEqual([kept.id]);
  });

  it('refuses a transaction value that cannot run a query, and one spread across two clients', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { app, sendEmail, client } = await setup('txbad');
    await expect(sendEmail.applyAsync([1], { transaction: {} })).rejects.toThrow(
      TransactionClientError,
    );
    await expect(
      app.sendMany([
        { task: sendEmail, args: [1], options: { transaction: client } },
        { task: sendEmail, args: [2] },
      ]),
    ).rejects.toThrow(/one transaction for every message/);
  });

  it('a broker that cannot write through the caller’s transaction refuses it, sending nothing', async () => {
    const file = tempDbPath('tx');
    const app = new Celeriac({ broker: `sqlite://${file}` });
    closers.push(async () => {
      await app.close();
      removeDb(file);
    });
    const task = app.task('emails.send', () => null);
    await expect(task.applyAsync([], { transaction: { query: () => undefined } })).rejects.toThrow(
      TransactionalPublishUnsupportedError,
    );
    expect(await (await app.broker()).queueLength('celery')).toBe(0);
  });
});
