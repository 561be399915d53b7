/**
 * Celery's rate syntax: `'10/s'`, `'100/m'`, `'1000/h'`, or a bare number per second
 * (Celery's `rate_limit`; kombu reads a string without a unit as per second).
 */
import type { RateSpec } from '../backends/flow-store.js';
import type { Rate } from '../app/task-options.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

export class InvalidRateError extends Error {
  constructor(rate: unknown) {
    super(
      `Invalid rate ${JSON.stringify(rate)}: use Celery's syntax, e.g. '10/s', '100/m', '1000/h' (or a number per second)`,
    );
    this.name = 'InvalidRateError';
  }
}

/** The bucket a rate makes; null for a rate of 0 (Celery: no limit). */
export function parseRate(rate: Rate, burst = 1): RateSpec | null {
  let tokens: number;
  let perMs = 1000;
  if (typeof rate === 'number') tokens = rate;
  else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
    if (!match) throw new InvalidRateError(rate);
    tokens = Number(match[1]);
    perMs = UNIT_MS[match[2] ?? 's']!;
  }
  if (!Number.isFinite(tokens) || tokens < 0) throw new InvalidRateError(rate);
  if (!Number.isFinite(burst) || burst < 1) throw new InvalidRateError(`burst ${burst}`);
  return tokens === 0 ? null : { tokens, perMs, burst };
}
