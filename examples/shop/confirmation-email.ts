/**
 * Builds the order confirmation as a real RFC 5322 / MIME message (text plus the PDF
 * receipt attached), ready to drop into an outbox folder any mail client opens. Pure:
 * no files or network. Customer input must never reach a header unencoded: a CR or LF in
 * a name would let it write headers of its own.
 */
import { randomBytes } from 'node:crypto';
import { formatCents, priceLines, totalCents, type Order } from './catalog.js';

export const SHOP_FROM = 'Celeriac Shop <orders@shop.example>';

export function buildConfirmationEmail(
  order: Order,
  receiptPdf: Uint8Array,
  now = new Date(),
): string {
  const boundary = `celeriac-${randomBytes(12).toString('hex')}`;
  const lines = priceLines(order.lines).map(
    ({ product, quantity, amountCents }) =>
      `  ${quantity} x ${product.name}: ${formatCents(amountCents)}`,
  );
  const text = [
    `Hello ${order.customer.name},`,
    '',
    `thank you for your order ${order.orderId}. We charged your ${order.card.brand} ending ${order.card.last4}:`,
    '',
    ...lines,
    `  Total: ${formatCents(totalCents(order.lines))}`,
    '',
    'Your receipt is attached.',
    '',
    '-- ',
    'Celeriac Shop',
  ].join('\r\n');
  const headers = [
    `From: ${SHOP_FROM}`,
    `To: ${mailbox(order.customer.name, order.customer.email)}`,
    `Subject: Your order ${order.orderId} is confirmed`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${order.orderId}.${now.getTime()}@shop.example>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
  ];
  return [
    ...headers,
    '',
    'This is a multi-part message in MIME format.',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    wrap76(Buffer.from(text, 'utf8').toString('base64')),
    `--${boundary}`,
    `Content-Type: application/pdf; name="receipt-${order.orderId}.pdf"`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="receipt-${order.orderId}.pdf"`,
    '',
    wrap76(Buffer.from(receiptPdf).toString('base64')),
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

/** `"Name" <address>`, the name RFC 2047-encoded when it is not plain ASCII. */
function mailbox(name: string, address: string): string {
  const flat = name.replace(/[\r\n]+/g, ' ').trim();
  const display = /^[\x20-\x7e]*$/.test(flat)
    ? `"${flat.replace(/["\\]/g, '\\$&')}"`
    : `=?UTF-8?B?${Buffer.from(flat, 'utf8').toString('base64')}?=`;
  // The address was validated by the web process; strip line breaks anyway, in depth.
  return `${display} <${address.replace(/[\r\n<>]/g, '')}>`;
}

/** `Tue, 24 Nov 2026 17:40:01 +0000`: RFC 5322 prefers a numeric zone to "GMT". */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** MIME limits lines to 76 characters of base64. */
function wrap76(base64: string): string {
  return base64.replace(/.{1,76}/g, '$&\r\n').trimEnd();
}
