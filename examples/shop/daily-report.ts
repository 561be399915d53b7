/**
 * The daily sales report: each order leaves a small sales record, and every morning beat
 * sends `shop.emailDailyReport`, which sums the last day's records and drops a report
 * e-mail into the outbox. File work only; the schedule lives in tasks.ts.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatCents } from './catalog.js';
import { SHOP_FROM, rfc5322Date } from './confirmation-email.js';

export interface SaleRecord {
  orderId: string;
  totalCents: number;
  /** Unix ms of the sale. */
  at: number;
}

export interface DailySummary {
  from: Date;
  to: Date;
  orders: number;
  totalCents: number;
}

/** Records one sale; the file name is the order id, so a re-run order writes it once. */
export async function recordSale(salesDir: string, sale: SaleRecord): Promise<void> {
  await mkdir(salesDir, { recursive: true });
  await writeFile(path.join(salesDir, `${sale.orderId}.json`), JSON.stringify(sale));
}

/** Sums the sales of the 24 hours before `now`. */
export async function summarise(salesDir: string, now: Date): Promise<DailySummary> {
  const from = new Date(now.getTime() - 86_400_000);
  const files = await readdir(salesDir).catch(() => [] as string[]);
  let orders = 0;
  let total = 0;
  for (const file of files.filter((f) => f.endsWith('.json'))) {
    const sale = JSON.parse(await readFile(path.join(salesDir, file), 'utf8')) as SaleRecord;
    if (sale.at > from.getTime() && sale.at <= now.getTime()) {
      orders += 1;
      total += sale.totalCents;
    }
  }
  return { from, to: now, orders, totalCents: total };
}

export function buildReportEmail(summary: DailySummary, timeZone: string): string {
  const day = summary.to.toLocaleDateString('en-GB', { timeZone, dateStyle: 'full' });
  const text = [
    `Sales for the 24 hours up to ${summary.to.toLocaleString('en-GB', { timeZone })} (${timeZone}):`,
    '',
    `  Orders: ${summary.orders}`,
    `  Revenue: ${formatCents(summary.totalCents)}`,
    '',
    '-- ',
    'Celeriac Shop',
  ].join('\r\n');
  return [
    `From: ${SHOP_FROM}`,
    'To: Shop owner <owner@shop.example>',
    `Subject: Daily sales report, ${day}`,
    `Date: ${rfc5322Date(summary.to)}`,
    `Message-ID: <report.${summary.to.getTime()}@shop.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    text,
    '',
  ].join('\r\n');
}
