/**
 * The default line logger prints one line per event whatever it is given: control
 * characters in messages and fields (they come from the wire) are escaped, never written.
 */
import { describe, expect, it } from 'vitest';
import { createLineLogger, escapeLogText } from '../../src/logger.js';

describe('line logger', () => {
  it('writes one line per event, escaping newlines, escapes and separators in messages and fields', () => {
    const written: string[] = [];
    const logger = createLineLogger({ name: 'worker', write: (line) => written.push(line) });
    const forged = '\n[2026-01-01 00:00:00.000: INFO/worker] forged';
    logger.error(
      { id: `id${forged}`, task: 'a\u001b[2Kb', note: 'x\u2028y', n: 3 },
      `Task t[1] raised TypeError: bad${forged}\r`,
    );
    expect(written).toHaveLength(1);
    const line = written[0]!;
    expect(line).not.toMatch(/[\n\r\u001b\u2028]/);
    expect(line).toContain(
      'raised TypeError: bad\\n[2026-01-01 00:00:00.000: INFO/worker] forged\\r',
    );
    expect(line).toContain('id="id\\n[2026-01-01');
    expect(line).toContain('task=a\\u001b[2Kb');
    expect(line).toContain('note="x\\u2028y"');
    expect(line).toContain('n=3');
  });

  it('leaves ordinary text as it is', () => {
    expect(escapeLogText('Task emails.send[3f2a] succeeded in 12 ms: “ok” ü')).toBe(
      'Task emails.send[3f2a] succeeded in 12 ms: “ok” ü',
    );
    expect(escapeLogText('tab\there')).toBe('tab\\there');
  });
});
