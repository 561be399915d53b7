/**
 * Retry delays: exponential backoff with an optional full jitter, as Celery's
 * `retry_backoff` computes them. Pure; the random source is injectable for tests.
 */

export interface BackoffOptions {
  /** Base delay in seconds. */
  base: number;
  /** Longest delay in seconds. */
  max: number;
  jitter: boolean;
}

/** Seconds to wait before retry number `retries + 1`. */
export function backoffSeconds(
  retries: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.max, options.base * 2 ** retries);
  // Full jitter spreads a burst of failing tasks over the whole window instead of
  // retrying them all together; never below a tenth of the base so a retry is a retry.
  return options.jitter ? Math.max(options.base / 10, random() * ceiling) : ceiling;
}
