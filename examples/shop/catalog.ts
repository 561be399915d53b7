/**
 * The shop's products and the order shape the web process sends to the worker. Pure data
 * and arithmetic, shared by both sides; prices are integer cents so totals never drift.
 */

export interface Product {
  sku: string;
  name: string;
  priceCents: number;
}

export const PRODUCTS: readonly Product[] = [
  { sku: 'celeriac-root', name: 'Celeriac root, 1 kg', priceCents: 349 },
  { sku: 'soup-kit', name: 'Celeriac soup kit', priceCents: 1290 },
  { sku: 'knife', name: 'Root vegetable knife', priceCents: 2450 },
];

export interface OrderLine {
  sku: string;
  quantity: number;
}

/** What travels in the task message. The card is a token: card numbers never enter the queue. */
export interface Order {
  orderId: string;
  placedAt: string;
  customer: { name: string; email: string };
  lines: OrderLine[];
  card: { token: string; brand: string; last4: string };
}

export function findProduct(sku: string): Product | undefined {
  return PRODUCTS.find((product) => product.sku === sku);
}

/** Each line with its product and amount; unknown SKUs throw (the web process checked them). */
export function priceLines(
  lines: readonly OrderLine[],
): { product: Product; quantity: number; amountCents: number }[] {
  return lines.map(({ sku, quantity }) => {
    const product = findProduct(sku);
    if (!product) throw new Error(`Unknown product "${sku}".`);
    return { product, quantity, amountCents: product.priceCents * quantity };
  });
}

export function totalCents(lines: readonly OrderLine[]): number {
  return priceLines(lines).reduce((sum, line) => sum + line.amountCents, 0);
}

export function formatCents(cents: number): string {
  return `€${(cents / 100).toFixed(2)}`;
}
