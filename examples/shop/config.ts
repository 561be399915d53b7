/**
 * Where the shop demo keeps its files: the SQLite database (broker and result backend),
 * the rendered receipts and the email outbox. The web process and the worker both import
 * this, so they always agree. `SHOP_DATA_DIR` moves all of it (tests use a temp dir).
 * Reading the environment is all it does: it must never create or delete files.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const explicitDir = process.env.SHOP_DATA_DIR;

/**
 * Receipts and outbox live here. @default this folder (examples/shop/receipts and
 * examples/shop/outbox, whatever the current directory)
 */
export const dataDir = path.resolve(explicitDir ?? fileURLToPath(new URL('.', import.meta.url)));
export const receiptsDir = path.join(dataDir, 'receipts');
export const outboxDir = path.join(dataDir, 'outbox');
export const salesDir = path.join(dataDir, 'sales');

/** The shop's time zone: the daily report goes out at 08:00 there. */
export const shopTimeZone = process.env.SHOP_TIME_ZONE ?? 'Europe/London';

/**
 * The embedded default, `sqlite://./celeriac.db`, unless a data dir was chosen, then the
 * database moves in with the rest. CELERIAC_BROKER_URL still overrides either.
 */
export const brokerUrl = explicitDir
  ? `sqlite://${path.join(dataDir, 'celeriac.db')}`
  : 'sqlite://./celeriac.db';

/** Milliseconds each step of an order pauses, so a person can watch the progress. */
export const stepMs = Number(process.env.SHOP_STEP_MS ?? 600);

/**
 * Milliseconds one event stream stays open before the page's EventSource renews it (tests
 * shorten it to watch an order across renewals). @default the handler's, 5 minutes
 */
export const streamLifetimeMs = process.env.SHOP_STREAM_LIFETIME_MS
  ? Number(process.env.SHOP_STREAM_LIFETIME_MS)
  : undefined;
