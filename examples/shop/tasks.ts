/**
 * The shop's Celeriac app and its task. The worker loads this module
 * (`celeriac -A examples/shop/tasks.ts worker`) and the web server imports it to send
 * orders. Importing it must have no side effects beyond registering tasks: no
 * connections, no files (the app connects lazily on first use).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
// In your own app: `from 'celeriac'`; the demo runs from source, without a build.
import { Celeriac, crontab, type TaskContext } from '../../src/index.js';
import { totalCents, type Order } from './catalog.js';
import { brokerUrl, outboxDir, receiptsDir, salesDir, shopTimeZone, stepMs } from './config.js';
import { buildReportEmail, recordSale, summarise, type DailySummary } from './daily-report.js';
import { buildConfirmationEmail } from './confirmation-email.js';
import { CardDeclinedError, charge } from './payments.js';
import { renderReceiptPdf } from './receipt-pdf.js';

// CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND override this URL without a code change.
export const app = new Celeriac({ broker: brokerUrl, trackStarted: true });

export interface OrderOutcome {
  orderId: string;
  totalCents: number;
  chargeId: string;
  /** The receipt's file name in the receipts folder, and where the web server serves it. */
  receiptFile: string;
  receiptUrl: string;
  /** The confirmation's file name in the outbox folder. */
  emailFile: string;
}

const STEPS = [
  'checking the order',
  'charging the card',
  'rendering the receipt',
  'sending the confirmation email',
];

export const processOrder = app.task(
  'shop.processOrder',
  async function (this: TaskContext, order: Order): Promise<OrderOutcome> {
    const step = async (index: number) => {
      await this.progress(index, STEPS.length, { step: STEPS[index] });
      // Honour the signal: a revoke or a forced worker shutdown stops the order mid-way.
      await sleep(stepMs, undefined, { signal: this.signal });
    };

    await step(0);
    const amount = totalCents(order.lines);

    await step(1);
    const { chargeId } = charge(order.card.token, amount, order.orderId);

    await step(2);
    const pdf = await renderReceiptPdf({ order, chargeId });
    const receiptFile = `${order.orderId}.pdf`;
    await writeAtomically(path.join(receiptsDir, receiptFile), pdf);

    await step(3);
    const emailFile = `${order.orderId}.eml`;
    await writeAtomically(path.join(outboxDir, emailFile), buildConfirmationEmail(order, pdf));

    await recordSale(salesDir, { orderId: order.orderId, totalCents: amount, at: Date.now() });
    return {
      orderId: order.orderId,
      totalCents: amount,
      chargeId,
      receiptFile,
      receiptUrl: `/receipts/${encodeURIComponent(receiptFile)}`,
      emailFile,
    };
  },
  {
    // Declines are retried here to show backoff in the demo; a real shop would retry only
    // gateway timeouts and tell the customer about a decline at once.
    autoretryFor: [CardDeclinedError],
    maxRetries: 2,
    retryBackoff: 0.5,
    retryBackoffMax: 2,
  },
);

/** Sums the last 24 hours of sales and drops the report e-mail into the outbox. */
export const emailDailyReport = app.task(
  'shop.emailDailyReport',
  async (): Promise<DailySummary & { emailFile: string }> => {
    const now = new Date();
    const summary = await summarise(salesDir, now);
    const emailFile = `daily-report-${now.toISOString().slice(0, 10)}-${now.getTime()}.eml`;
    await writeAtomically(path.join(outboxDir, emailFile), buildReportEmail(summary, shopTimeZone));
    return { ...summary, emailFile };
  },
);

// Beat sends it every morning at 08:00 in the shop's time zone (the demo runs beat inside
// its worker: `worker -B`). Try it now: `npx celeriac -A examples/shop/tasks.ts beat run-now daily-sales-report`.
app.periodic('daily-sales-report', {
  task: emailDailyReport,
  schedule: crontab('0 8 * * *', { tz: shopTimeZone }),
  options: { expires: 3600 }, // a report not started within the hour is dropped, not piled up
});

/**
 * Writes through a temporary file and a rename, so a reader (the web server, a mail
 * client) never sees half a file, and a task run again after a crash simply replaces it.
 */
async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, data);
  await rename(partial, file);
}
