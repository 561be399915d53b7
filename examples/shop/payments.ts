/**
 * A fake card gateway with Stripe-style test cards, so the demo can show a declined
 * payment without a network. The web process tokenises the card number (it never reaches
 * the broker or the result backend); the worker charges the token. It must never store
 * or log a full card number.
 */
import { createHash } from 'node:crypto';

/** Thrown when the (fake) bank declines; the order task retries it with backoff. */
export class CardDeclinedError extends Error {
  constructor(message: string) {
    super(message);
    // Set explicitly: the worker stores `name` as the error type the page shows.
    this.name = 'CardDeclinedError';
  }
}

export class InvalidCardError extends Error {}

/** Test cards: any other number that passes the Luhn check is accepted. */
const TEST_TOKENS: Record<string, string> = {
  '4000000000000002': 'tok_chargeDeclined',
  '4000000000009995': 'tok_chargeDeclinedInsufficientFunds',
};

const DECLINES: Record<string, string> = {
  tok_chargeDeclined: 'Your card was declined.',
  tok_chargeDeclinedInsufficientFunds: 'Your card has insufficient funds.',
};

export function tokenizeCard(input: string): { token: string; brand: string; last4: string } {
  const number = input.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(number) || !passesLuhn(number)) {
    throw new InvalidCardError('That card number is not valid (try 4242 4242 4242 4242).');
  }
  const brand = number.startsWith('4') ? 'Visa' : /^5[1-5]/.test(number) ? 'Mastercard' : 'Card';
  return { token: TEST_TOKENS[number] ?? 'tok_visa', brand, last4: number.slice(-4) };
}

/**
 * Charges a token. The idempotency key (the order id) makes a retried task charge once
 * at most, as real gateways do: a task can run again after a crash between charging and
 * finishing, so every side effect it has must be safe to repeat.
 */
export function charge(
  token: string,
  amountCents: number,
  idempotencyKey: string,
): { chargeId: string } {
  const decline = DECLINES[token];
  if (decline) throw new CardDeclinedError(decline);
  if (!Number.isInteger(amountCents) || amountCents <= 0)
    throw new Error(`Cannot charge ${amountCents} cents.`);
  const chargeId = `ch_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 16)}`;
  return { chargeId };
}

function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}
