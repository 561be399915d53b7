/**
 * The demo shop's pure pieces, without processes: the fake card gateway, the PDF receipt
 * and the confirmation email, including the customer input that must not break them.
 */
import { describe, expect, it } from 'vitest';
import type { Order } from '../../examples/shop/catalog.js';
import { buildConfirmationEmail } from '../../examples/shop/confirmation-email.js';
import {
  CardDeclinedError,
  InvalidCardError,
  charge,
  tokenizeCard,
} from '../../examples/shop/payments.js';
import { renderReceiptPdf } from '../../examples/shop/receipt-pdf.js';

const order = (name: string): Order => ({
  orderId: 'ORD-0123456789',
  placedAt: '2026-11-24T17:40:01.000Z',
  customer: { name, email: 'ada@example.com' },
  lines: [{ sku: 'knife', quantity: 1 }],
  card: { token: 'tok_visa', brand: 'Visa', last4: '4242' },
});

describe('the fake card gateway', () => {
  it('tokenises test cards, refuses numbers that fail the Luhn check, and declines the declined card', () => {
    expect(tokenizeCard('4242 4242 4242 4242')).toEqual({
      token: 'tok_visa',
      brand: 'Visa',
      last4: '4242',
    });
    expect(tokenizeCard('4000-0000-0000-0002').token).toBe('tok_chargeDeclined');
    expect(() => tokenizeCard('4242 4242 4242 4241')).toThrow(InvalidCardError);
    expect(() => charge('tok_chargeDeclined', 100, 'ORD-1')).toThrow(CardDeclinedError);
    // Same idempotency key, same charge: a task run twice charges once.
    expect(charge('tok_visa', 100, 'ORD-1')).toEqual(charge('tok_visa', 100, 'ORD-1'));
  });
});

describe('the receipt and the email', () => {
  it('renders a PDF for a name the standard fonts cannot draw', async () => {
    const pdf = await renderReceiptPdf({ order: order('李小龙 Zoë'), chargeId: 'ch_1' });
    expect(Buffer.from(pdf.subarray(0, 5)).toString('latin1')).toBe('%PDF-');
  });

  it('keeps a name with line breaks from writing headers of its own', () => {
    const eml = buildConfirmationEmail(
      order('Eve\r\nBcc: victim@example.com'),
      new Uint8Array([37, 80, 68, 70]),
    );
    const head = eml.split('\r\n\r\n')[0] ?? '';
    expect(head).not.toMatch(/^Bcc:/m);
    expect(head).toMatch(/^To: "Eve Bcc: victim@example\.com" <ada@example\.com>$/m);
  });

  it('encodes a name outside ASCII as RFC 2047 UTF-8', () => {
    const eml = buildConfirmationEmail(order('Zoë'), new Uint8Array([1]));
    expect(eml).toContain(
      `To: =?UTF-8?B?${Buffer.from('Zoë').toString('base64')}?= <ada@example.com>`,
    );
  });
});
