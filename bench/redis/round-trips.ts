/**
 * One client's round-trip bound on this Redis: GETs a second from a single connection, one
 * at a time, by `redis-benchmark -c 1 -n 20000 -t get -q` when it is installed, or else a
 * one-client ioredis GET loop (also measured on its own: the bound as a Node client sees it).
 * Awaited enqueue can be no faster than this (one round trip each). Reads one absent key;
 * writes nothing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { rate, wallClock } from '../support.js';

export interface RoundTrips {
  perSec: number;
  /** How it was measured, for the printout. */
  how: string;
}

/** GETs a second from `redis-benchmark -t get -q` output (progress lines end in \r; the last counts). */
export function parseRedisBenchmark(stdout: string): number | undefined {
  const found = [...stdout.matchAll(/GET: ([\d.]+) requests per second/g)].pop();
  return found ? Number(found[1]) : undefined;
}

export async function measureRoundTrips(url: string, count = 20_000): Promise<RoundTrips> {
  const parsed = new URL(url);
  const host = parsed.hostname;
  const port = parsed.port || '6379';
  try {
    const { stdout } = await promisify(execFile)(
      'redis-benchmark',
      ['-h', host, '-p', port, '-c', '1', '-n', String(count), '-t', 'get', '-q'],
      { timeout: 120_000 },
    );
    const perSec = parseRedisBenchmark(stdout);
    if (perSec !== undefined) return { perSec, how: 'redis-benchmark -c 1 -t get' };
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
