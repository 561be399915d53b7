// The bench's pure helpers: how a figure is judged against its goal, medians, the
// latency probes' schedule and parsing, and reading redis-benchmark's output. The bench
// itself runs against real services through `npm run bench`; these need none.
import { describe, expect, it } from 'vitest';
import { against, median } from '../../bench/support.js';
import { LATENCY_WARMUP, parseLatencies, untilProbe } from '../../bench/redis/contender.js';
import { parseRedisBenchmark } from '../../bench/redis/round-trips.js';

describe('bench helpers', () => {
  it('judges a ratio against an at-least goal', () => {
    expect(against(2.3, 3, 'BullMQ')).toBe('2.30x BullMQ (goal >= 3x): short');
    expect(against(3, 3, 'BullMQ')).toBe('3.00x BullMQ (goal >= 3x): met');
  });

  it('judges an at-most goal and percentages', () => {
    expect(against(0.8, 1, "bee-queue's", { atMost: true })).toBe(
      "0.80x bee-queue's (goal <= 1x): met",
    );
    expect(against(0.72, 0.7, 'of raw', { percent: true })).toBe('72% of raw (goal >= 70%): met');
    expect(against(0.5, 0.8, 'of bound', { percent: true })).toBe(
      '50% of bound (goal >= 80%): short',
    );
  });

  it('takes the middle round, whatever order the rounds came in', () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(median([5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('spaces latency probes from the start, not from the previous send', () => {
    expect(untilProbe(1000, 3, 5, 1004)).toBe(11);
    // Behind schedule: the next probe goes at once.
    expect(untilProbe(1000, 3, 5, 1020)).toBe(0);
  });

  it('drops the warm-up probes (in start order) and sorts the rest', () => {
    const warm = Array.from({ length: LATENCY_WARMUP }, () => 100);
    const line = `bench-latency ${JSON.stringify([...warm, 3, 1, 2])}`;
    expect(parseLatencies(line)).toEqual([1, 2, 3]);
  });

  it("reads the last GET rate from redis-benchmark's quiet output", () => {
    const out =
      'GET: rps=0.0 (overall: 57000.0) avg_msec=0.011 (overall: 0.011)\r' +
      '                \rGET: 42553.19 requests per second, p50=0.015 msec\n\n';
    expect(parseRedisBenchmark(out)).toBe(42553.19);
    expect(parseRedisBenchmark('Could not connect to Redis at 127.0.0.1:1')).toBeUndefined();
  });

  it("reads each test's rate from one redis-benchmark run of PING, SET and GET", () => {
    const out =
      'PING_INLINE: 9000.00 requests per second, p50=0.031 msec\n' +
      'PING_MBULK: rps=1.0 (overall: 2.0) avg_msec=0.1 (overall: 0.1)\r' +
      'PING_MBULK: 10256.41 requests per second, p50=0.031 msec\n' +
      'SET: 8097.17 requests per second, p50=0.031 msec\n' +
      'GET: 8130.08 requests per second, p50=0.031 msec\n';
    expect(parseRedisBenchmark(out, 'PING_MBULK')).toBe(10256.41);
    expect(parseRedisBenchmark(out, 'SET')).toBe(8097.17);
    expect(parseRedisBenchmark(out)).toBe(8130.08);
    expect(parseRedisBenchmark(out, 'LPUSH')).toBeUndefined();
  });
});
