/**
 * One client's round-trip bound on this Redis: requests a second from a single connection,
 * one at a time, by `redis-benchmark -c 1 -n 20000 -t ping,set,get -q` when it is installed
 * (PING is the bare round trip, SET a one-key write as an enqueue is, GET a read), or else a
 * one-client ioredis GET loop (also measured on its own: the bound as a Node client sees
 * it). Awaited enqueue can be no faster than this (one round trip each). Writes one key of
 * its own (redis-benchmark's `key:__rand_int__` without -r is the single key `key:__rand_int__`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { rate, wallClock } from '../support.js';

export interface RoundTrips {
  /** The bound the goal is judged on: the fastest of the round trips measured. */
  perSec: number;
  /** How it was measured, for the printout. */
  how: string;
  /** Each command's rate, by redis-benchmark's test name (PING_MBULK, SET, GET), when measured. */
  byCommand?: Record<string, number>;
}

/**
 * A test's requests a second from `redis-benchmark -q` output (progress lines end in \r;
 * the last counts). `test` is its name as printed: GET, SET, PING_MBULK, PING_INLINE.
 */
export function parseRedisBenchmark(stdout: string, test = 'GET'): number | undefined {
  const pattern = new RegExp(`(?:^|[\\s\\r])${test}: ([\\d.]+) requests per second`, 'g');
  const found = [...stdout.matchAll(pattern)].pop();
  return found ? Number(found[1]) : undefined;
}

/** The commands redis-benchmark times for the bound, and their names in its output. */
const BOUND_TESTS = ['PING_MBULK', 'SET', 'GET'] as const;

export async function measureRoundTrips(url: string, count = 20_000): Promise<RoundTrips> {
  const parsed = new URL(url);
  const host = parsed.hostname;
  const port = parsed.port || '6379';
  const db = parsed.pathname.slice(1) || '0';
  try {
    const { stdout } = await promisify(execFile)(
      'redis-benchmark',
      [
        '-h',
        host,
        '-p',
        port,
        '--dbnum',
        db,
        '-c',
        '1',
        '-n',
        String(count),
        '-t',
        'ping,set,get',
        '-q',
      ],
      { timeout: 180_000 },
    );
    const byCommand: Record<string, number> = {};
    for (const test of BOUND_TESTS) {
      const perSec = parseRedisBenchmark(stdout, test);
      if (perSec !== undefined) byCommand[test] = perSec;
    }
    const rates = Object.values(byCommand);
    if (rates.length > 0)
      return {
        perSec: Math.max(...rates),
        how: 'redis-benchmark -c 1, the fastest of PING, SET, GET',
        byCommand,
      };
  } catch {
    // Not installed or not allowed to reach this server: fall back to a client loop.
  }
  return measureClientRoundTrips(url, count);
}

/** The same bound as a Node client sees it: one ioredis connection, awaited GETs. */
export async function measureClientRoundTrips(url: string, count = 20_000): Promise<RoundTrips> {
  const client = new Redis(url);
  try {
    for (let i = 0; i < 1000; i++) await client.get('celeriac-bench:absent');
    const start = wallClock();
    for (let i = 0; i < count; i++) await client.get('celeriac-bench:absent');
    return { perSec: rate(count, wallClock() - start), how: 'one ioredis client, awaited GETs' };
  } finally {
    client.disconnect();
  }
}
