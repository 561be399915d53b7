/**
 * The shop both transactional-enqueue test files start from: a schema of the test's own
 * with an `orders` table, an app whose broker is the PostgreSQL broker on it, one task, and
 * a consumer recording what is delivered. Everything it opens is undone by `close()`.
 */
import { Celeriac } from '../../../src/index.js';
import type { PostgresBroker } from '../../../src/brokers/postgres/index.js';
import { Inbox } from '../../../src/testing/broker-conformance.js';
import { testSchema } from '../../support/postgres.js';

export async function openShop(label: string) {
  const schema = testSchema(label);
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => undefined);
    await schema.drop();
  };
  try {
    const app = new Celeriac({ broker: schema.url, backend: `memory://${label}` });
    closers.push(() => app.close());
    const sendReceipt = app.task('orders.receipt', (orderId: number) => orderId);
    const broker = (await app.broker()) as PostgresBroker;
    const inbox = new Inbox();
    const consumer = await broker.consume({
      queues: ['celery'],
      prefetch: 10,
      onDelivery: inbox.onDelivery,
    });
    closers.push(() => consumer.cancel());
    const client = await schema.client();
    const table = `"${schema.schema}".orders`;
    await client.query(`CREATE TABLE ${table} (id INT PRIMARY KEY)`);
    const orderIds = async () =>
      (await client.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map(
        (row) => row.id,
      );
    return { schema, app, sendReceipt, broker, inbox, client, table, orderIds, closers, close };
  } catch (error) {
    await close();
    throw error;
  }
}
