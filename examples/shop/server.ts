/**
 * The shop's web process (Express): the order page, `POST /orders`, which answers 202 at
 * once with the task id and its `Location`, the receipts, and the task state routes
 * (`/tasks/:id`, `/tasks/:id/stream`). It must never wait for a task to finish inside a
 * request: the worker does the slow work, the page follows it live.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express, { type Express, type Request, type Response } from 'express';
// In your own app: `from 'celeriac/web'` and `from 'celeriac/express'`.
import { sendAndRespond } from '../../src/web/index.js';
import { celeriacExpress, writeResponse } from '../../src/web/express.js';
import { findProduct, type Order } from './catalog.js';
import { receiptsDir, streamLifetimeMs } from './config.js';
import { InvalidCardError, tokenizeCard } from './payments.js';
import { app, processOrder } from './tasks.js';

const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

export function createShopServer(log: (line: string) => void = console.log): Express {
  const server = express();
  server.disable('x-powered-by');
  server.use(express.static(publicDir, { index: 'index.html' }));
  // Receipts are only ever PDFs named after their order; nothing else in the folder is served.
  server.use(
    '/receipts',
    express.static(receiptsDir, { index: false, dotfiles: 'deny', extensions: false }),
  );
  server.use(celeriacExpress(app, { prefix: '/tasks', streamLifetimeMs }));

  server.post('/orders', express.json({ limit: '16kb' }), async (req: Request, res: Response) => {
    const order = parseOrder(req.body);
    if (typeof order === 'string') {
      res.status(400).json({ error: { type: 'InvalidOrder', message: order } });
      return;
    }
    const sending = processOrder.delay(order).then((result) => {
      log(`order ${order.orderId} queued as task ${result.id}`);
      return result;
    });
    const response = await sendAndRespond(sending, {
      prefix: '/tasks',
      body: { orderId: order.orderId },
    });
    if (response.status !== 202)
      log(`order ${order.orderId} could not be queued (broker unavailable?)`);
    await writeResponse(response, res);
  });
  return server;
}

/** Checks the form's fields; answers the order, or a message for the customer. */
function parseOrder(body: unknown): Order | string {
  if (typeof body !== 'object' || body === null) return 'Send the order as JSON.';
  const fields = body as Record<string, unknown>;
  const name = typeof fields.name === 'string' ? fields.name.trim() : '';
  const email = typeof fields.email === 'string' ? fields.email.trim() : '';
  const sku = typeof fields.sku === 'string' ? fields.sku : '';
  const quantity = Number(fields.quantity);
  if (name.length === 0 || name.length > 100) return 'Give a name of 1 to 100 characters.';
  if (email.length > 254 || !/^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(email))
    return 'Give a valid email address.';
  if (!findProduct(sku)) return 'Choose a product from the list.';
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 20)
    return 'Order between 1 and 20 of it.';
  let card: Order['card'];
  try {
    card = tokenizeCard(typeof fields.cardNumber === 'string' ? fields.cardNumber : '');
  } catch (error) {
    if (error instanceof InvalidCardError) return error.message;
    throw error;
  }
  return {
    orderId: `ORD-${randomBytes(5).toString('hex').toUpperCase()}`,
    placedAt: new Date().toISOString(),
    customer: { name, email },
    lines: [{ sku, quantity }],
    card,
  };
}
