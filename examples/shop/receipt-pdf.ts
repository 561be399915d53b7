/**
 * Renders an order's receipt as a real PDF with pdf-lib. Pure: bytes out, no files
 * written here (the task decides where they go).
 */
import { PDFDocument, StandardFonts, rgb } from 'pdf-lib';
import { formatCents, priceLines, totalCents, type Order } from './catalog.js';

export interface ReceiptDetails {
  order: Order;
  chargeId: string;
}

export async function renderReceiptPdf({ order, chargeId }: ReceiptDetails): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(`Receipt ${order.orderId}`);
  pdf.setAuthor('Celeriac Shop');
  pdf.setCreationDate(new Date(order.placedAt));
  const page = pdf.addPage([595, 842]); // A4 in points
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const ink = rgb(0.12, 0.16, 0.2);
  const encodable = new Set(regular.getCharacterSet());
  let y = 780;
  const line = (text: string, options: { x?: number; size?: number; strong?: boolean } = {}) => {
    page.drawText(winAnsi(text, encodable), {
      x: options.x ?? 56,
      y,
      size: options.size ?? 11,
      font: options.strong ? bold : regular,
      color: ink,
    });
  };

  line('Celeriac Shop', { size: 22, strong: true });
  y -= 28;
  line(`Receipt for order ${order.orderId}`, { size: 13 });
  y -= 30;
  line(`Date: ${new Date(order.placedAt).toUTCString()}`);
  y -= 16;
  line(`Customer: ${order.customer.name} <${order.customer.email}>`);
  y -= 16;
  line(`Paid with: ${order.card.brand} ending ${order.card.last4} (charge ${chargeId})`);
  y -= 34;
  line('Item', { strong: true });
  line('Qty', { x: 360, strong: true });
  line('Amount', { x: 450, strong: true });
  y -= 8;
  page.drawLine({ start: { x: 56, y }, end: { x: 539, y }, thickness: 0.7, color: ink });
  for (const { product, quantity, amountCents } of priceLines(order.lines)) {
    y -= 18;
    line(product.name);
    line(String(quantity), { x: 360 });
    line(formatCents(amountCents), { x: 450 });
  }
  y -= 12;
  page.drawLine({ start: { x: 56, y }, end: { x: 539, y }, thickness: 0.7, color: ink });
  y -= 20;
  line('Total', { strong: true });
  line(formatCents(totalCents(order.lines)), { x: 450, strong: true });
  y -= 60;
  line('Thank you for your order. This receipt was rendered by a Celeriac worker.', { size: 9 });
  return pdf.save();
}

/**
 * The standard PDF fonts only encode WinAnsi (Latin-1 plus a few, like €); pdf-lib throws
 * on anything else, so a customer named in another script must not fail the whole order.
 */
function winAnsi(text: string, encodable: ReadonlySet<number>): string {
  return Array.from(text, (char) => (encodable.has(char.codePointAt(0) ?? 0) ? char : '?')).join(
    '',
  );
}
