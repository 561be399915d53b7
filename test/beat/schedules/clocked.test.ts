import { describe, expect, it } from 'vitest';

import { clocked } from '../../../src/beat/schedules/index.js';

describe('clocked', () => {
  const at = new Date('2026-12-24T18:00:00Z');

  it('runs once at its instant and returns null once that instant is not after the argument', () => {
    const schedule = clocked(at);
    expect(schedule.nextAfter(new Date('2026-12-24T17:59:59.999Z'))?.toISOString()).toBe(
      '2026-12-24T18:00:00.000Z',
    );
    expect(schedule.nextAfter(at)).toBeNull();
    expect(schedule.nextAfter(new Date('2027-01-01T00:00:00Z'))).toBeNull();
  });

  it('reports the run as previous only from its instant on', () => {
    const schedule = clocked(at);
    expect(schedule.previousAtOrBefore(new Date('2026-12-24T17:59:59.999Z'))).toBeNull();
    expect(schedule.previousAtOrBefore(at)?.toISOString()).toBe('2026-12-24T18:00:00.000Z');
  });

  it("keeps its own copy of the instant, so mutating the caller's Date does not move the run", () => {
    const input = new Date(at.getTime());
    const schedule = clocked(input);
    input.setUTCFullYear(2030);
    schedule.at.setUTCFullYear(2031);
    expect(schedule.toJSON()).toEqual({ kind: 'clocked', at: '2026-12-24T18:00:00.000Z' });
    expect(schedule.describe()).toBe('once at 2026-12-24T18:00:00.000Z');
  });

  it('refuses an invalid Date, and an invalid Date as the argument', () => {
    expect(() => clocked(new Date('not a date'))).toThrow(
      /clocked time must be a valid Date, got Invalid Date/,
    );
    expect(() => clocked('2026-12-24' as never)).toThrow(
      /clocked time must be a valid Date, got "2026-12-24"/,
    );
    expect(() => clocked(at).nextAfter(new Date(Number.NaN))).toThrow(/after must be a valid Date/);
  });
});
