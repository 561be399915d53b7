/**
 * How Python prints numbers, shared by the JSON writer and the repr writer so both agree
 * with what Celery puts on the wire. Pure string formatting; never parses or rounds values.
 */

/**
 * Python's `repr(float)`: the shortest digits that round-trip (the same digits JavaScript
 * picks), but Python switches to exponent form below 1e-4 and from 1e16 up, writes at
 * least two exponent digits and always shows a fractional part (`1.0`, `1e+16`, `1e-05`).
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(x);
  // Inside this range JavaScript already writes plain decimals with Python's digits.
  if (abs >= 1e-4 && abs < 1e16) {
    const text = String(x);
    return Number.isInteger(x) ? `${text}.0` : text;
  }
  const exponential = x.toExponential();
  const e = exponential.indexOf('e');
  const mantissa = exponential.slice(0, e);
  const exponent = Number(exponential.slice(e + 1));
  const digits = String(Math.abs(exponent)).padStart(2, '0');
  return `${mantissa}e${exponent < 0 ? '-' : '+'}${digits}`;
}

/**
 * A JavaScript number as Python would have written the int or float it most likely was:
 * integral values print as exact integers (Python ints), others as floats. Integral values
 * from 1e21 up are taken for floats, as JSON.stringify does.
 */
export function pythonNumberText(x: number, nonFinite: 'json' | 'repr'): string {
  if (Number.isInteger(x)) {
    if (Number.isSafeInteger(x)) return String(x);
    if (Math.abs(x) < 1e21) return BigInt(x).toString();
    return pythonFloatRepr(x);
  }
  if (Number.isFinite(x)) return pythonFloatRepr(x);
  if (nonFinite === 'repr') return pythonFloatRepr(x);
  // json.dumps(allow_nan=True), Python's default, writes these bare words.
  return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
}
