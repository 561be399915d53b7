import { describe, expect, it } from 'vitest';

import { formatDuration, parseDuration } from '../../../src/beat/schedules/index.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['250ms', 250],
    ['1d2h3m4s5ms', 93_784_005],
    [' 90s ', 90_000],
    [1500, 1500],
  ])('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '5', '5 m', '5M', '1.5h', '-5m', '1h1h', '30m1h', '5mins', 'PT5M'])(
    'refuses %j with a message that shows the accepted forms',
    (input) => {
      expect(() => parseDuration(input)).toThrow(
        /duration ".*" is not valid.*"30s", "5m", "1h30m", "2d"/,
      );
    },
  );

  it('names the CLI option in the message when asked to', () => {
    expect(() => parseDuration('soon', '--every')).toThrow(/^--every "soon" is not valid/);
  });

  it('round-trips through formatDuration', () => {
    for (const ms of [1, 999, 1000, 60_000, 5_400_000, 93_784_005, 86_400_000 * 400]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});
