/**
 * Proves datetimes are written as Python's isoformat() writes them and every form Celery
 * 5.x writes is read back as the right instant.
 */
import { describe, expect, it } from 'vitest';
import { formatCeleryDate, parseCeleryDate } from '../../src/protocol/index.js';

describe('formatCeleryDate', () => {
  it('writes microseconds and +00:00 like datetime.isoformat() of an aware UTC datetime', () => {
    expect(formatCeleryDate(new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678)))).toBe(
      '2030-01-02T03:04:05.678000+00:00',
    );
  });

  it('leaves the fraction out when it is zero, as Python does', () => {
    expect(formatCeleryDate(new Date(Date.UTC(2030, 0, 3)))).toBe('2030-01-03T00:00:00+00:00');
  });

  it('pads small years and rejects dates Python cannot hold', () => {
    const early = new Date(Date.UTC(2000, 0, 1));
    early.setUTCFullYear(5);
    expect(formatCeleryDate(early)).toBe('0005-01-01T00:00:00+00:00');
    expect(() => formatCeleryDate(new Date(NaN))).toThrow(RangeError);
    expect(() => formatCeleryDate(new Date(Date.UTC(10000, 0, 1)))).toThrow(/1\.\.9999/);
  });
});

describe('parseCeleryDate', () => {
  const instant = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

  it('reads the forms Celery writes: +00:00, Z, naive (UTC), with microseconds', () => {
    for (const text of [
      '2030-01-02T03:04:05.678901+00:00',
      '2030-01-02T03:04:05.678901Z',
      '2030-01-02T03:04:05.678901',
      '2030-01-02 03:04:05.678',
      '2030-01-02T04:04:05.678+01:00',
      '2030-01-01T22:04:05.678-05:00',
      '2030-01-02T05:04:05.678+0200',
    ]) {
      expect(parseCeleryDate(text).getTime(), text).toBe(instant);
    }
  });

  it('reads dates and whole seconds as the start of that period in UTC', () => {
    expect(parseCeleryDate('2030-01-02').getTime()).toBe(Date.UTC(2030, 0, 2));
    expect(parseCeleryDate('2030-01-02T03:04').getTime()).toBe(Date.UTC(2030, 0, 2, 3, 4));
    expect(parseCeleryDate('2030-01-03T00:00:00+00:00').getTime()).toBe(Date.UTC(2030, 0, 3));
  });

  it('reads years before 100 as such (not 19xx) and any number of fraction digits', () => {
    const early = new Date(0);
    early.setUTCFullYear(42, 1, 3);
    early.setUTCHours(4, 5, 6, 500);
    expect(parseCeleryDate('0042-02-03T04:05:06.5').getTime()).toBe(early.getTime());
    expect(parseCeleryDate('0042-02-03T04:05:06.5').getUTCFullYear()).toBe(42);
    expect(parseCeleryDate('2030-01-02T03:04:05,67').getUTCMilliseconds()).toBe(670);
    expect(parseCeleryDate('2030-01-02T03:04:05.678999999').getUTCMilliseconds()).toBe(678);
  });

  it('round-trips what formatCeleryDate writes', () => {
    const date = new Date(Date.UTC(2026, 10, 24, 14, 1, 3, 6));
    expect(parseCeleryDate(formatCeleryDate(date)).getTime()).toBe(date.getTime());
  });

  it('throws RangeError for text that is not a datetime or names an impossible one', () => {
    for (const text of [
      '',
      'tomorrow',
      '2030-13-01T00:00:00',
      '2030-02-30',
      '2030-01-02T24:00:00',
      '2030-01-02T03:04:60',
      '2030-01-02T03:04:05+25:00',
      '0000-01-01',
      '1700000000',
    ]) {
      expect(() => parseCeleryDate(text), text).toThrow(RangeError);
    }
    expect(parseCeleryDate('2028-02-29').getUTCDate()).toBe(29);
    expect(() => parseCeleryDate('2100-02-29')).toThrow(RangeError);
  });
});
