/**
 * Enqueue inside a Kysely transaction and inside a Drizzle transaction (both on the
 * node-postgres driver), written exactly as docs/postgres.md shows them: a commit delivers
 * exactly one task, a rollback delivers none and leaves no order row either.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, type Transaction } from 'kysely';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql } from 'drizzle-orm';
import type { Queryable } from '../../../src/brokers/postgres/index.js';
import { sleep } from '../../../src/testing/broker-conformance.js';
import { requireService } from '../../support/services.js';
import { PG_BASE_URL } from '../../support/postgres.js';
import { openShop } from './orders-fixture.js';

let shop: Awaited<ReturnType<typeof openShop>> | undefined;

afterEach(async () => {
  await shop?.close();
  shop = undefined;
});

/** The adapter docs/postgres.md gives for Kysely: runs Celeriac's statement on the transaction's connection. */
function kyselyQueryable(trx: Transaction<unknown>): Queryable {
  return {
    async query<TRow>(text: string, values: unknown[] = []) {
      const result = await trx.executeQuery(CompiledQuery.raw(text, values));
      return {
        rows: result.rows as TRow[],
        rowCount: result.numAffectedRows === undefined ? null : Number(result.numAffectedRows),
      };
    },
  };
}

async function setup(label: string) {
  shop = await openShop(label);
  const pool = new pg.Pool({ connectionString: PG_BASE_URL, max: 2 });
  shop.closers.push(() => pool.end());
  return { ...shop, pool, closers: shop.closers };
}

describe('enqueue inside a query builder’s PostgreSQL transaction', () => {
  it('Kysely: a committed transaction delivers its task once, a rolled-back one none', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { sendReceipt, broker, inbox, orderIds, table, pool, closers } = await setup('kysely');
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    closers.push(() => db.destroy());

    await expect(
      db.transaction().execute(async (trx) => {
        await trx.executeQuery(CompiledQuery.raw(`INSERT INTO ${table} (id) VALUES ($1)`, [1]));
        await sendReceipt.applyAsync([1], { transaction: kyselyQueryable(trx) });
        throw new Error('payment declined');
      }),
    ).rejects.toThrow('payment declined');
    await sleep(300);
    expect(inbox.ids).toEqual([]);
    expect(await broker.queueLength('celery')).toBe(0);

    const sent = await db.transaction().execute(async (trx) => {
      await trx.executeQuery(CompiledQuery.raw(`INSERT INTO ${table} (id) VALUES ($1)`, [2]));
      return sendReceipt.applyAsync([2], { transaction: kyselyQueryable(trx) });
    });
    const [delivery] = await inbox.waitCount(1, 5000);
    expect(delivery!.message.headers.id).toBe(sent.id);
    await delivery!.ack();
    await sleep(300);
    expect(inbox.ids).toEqual([sent.id]);
    expect(await orderIds()).toEqual([2]);
  });

  it('Drizzle (node-postgres): a committed transaction delivers its task once, a rolled-back one none', async (ctx) => {
    await requireService(ctx, 'postgres');
    const { sendReceipt, broker, inbox, orderIds, table, pool, closers } = await setup('drizzle');
    // Drizzle runs db.transaction() on the very client it was given: pass that client on.
    const client = await pool.connect();
    closers.push(() => Promise.resolve(client.release()));
    const db = drizzle(client);

    await expect(
      db.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO ${sql.raw(table)} (id) VALUES (${1})`);
        await sendReceipt.applyAsync([1], { transaction: client });
        tx.rollback();
      }),
    ).rejects.toThrow(/rollback/i);
    await sleep(300);
    expect(inbox.ids).toEqual([]);
    expect(await broker.queueLength('celery')).toBe(0);

    const sent = await db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO ${sql.raw(table)} (id) VALUES (${2})`);
      const result = await sendReceipt.applyAsync([2], { transaction: client });
      await sleep(200);
      expect(inbox.ids).toEqual([]); // not visible before the commit
      return result;
    });
    const [delivery] = await inbox.waitCount(1, 5000);
    expect(delivery!.message.headers.id).toBe(sent.id);
    await delivery!.ack();
    await sleep(300);
    expect(inbox.ids).toEqual([sent.id]);
    expect(await orderIds()).toEqual([2]);
  });
});
