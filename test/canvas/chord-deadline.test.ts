// The default chord deadline, derived from the header's time limits (canvas/apply-json.ts).
import { describe, expect, it } from 'vitest';
import { chordDeadline, MIN_DEFAULT_DEADLINE } from '../../src/canvas/apply-json.js';
import type { SignatureJson } from '../../src/protocol/types.js';

const task = (options: Record<string, unknown> = {}): SignatureJson =>
  ({
    task: 't',
    args: [],
    kwargs: {},
    options,
    subtask_type: null,
    immutable: false,
  }) as SignatureJson;
const chain = (...tasks: SignatureJson[]): SignatureJson => ({
  task: 'celery.chain',
  args: [],
  kwargs: { tasks },
  options: {},
  subtask_type: 'chain',
  immutable: false,
});
const group = (...tasks: SignatureJson[]): SignatureJson => ({
  task: 'celery.group',
  args: [],
  kwargs: { tasks },
  options: {},
  subtask_type: 'group',
  immutable: false,
});
const chord = (options: Record<string, unknown> = {}): SignatureJson =>
  ({
    task: 'celery.chord',
    args: [],
    kwargs: {},
    options,
    subtask_type: 'chord',
    immutable: false,
  }) as SignatureJson;

describe('the default chord deadline', () => {
  it('is twice the header run one task after another at its limits, countdowns included', () => {
    const header = [
      task({ time_limit: 10 }),
      task({ soft_time_limit: 5, countdown: 3 }),
      chain(task({ time_limit: 7 }), task({ time_limit: 2 })),
      group(task({ time_limit: 4 }), task({ time_limit: 4 })),
    ];
    expect(chordDeadline(chord(), header)).toBe(2 * (10 + 5 + 3 + 9 + 8));
  });

  it('has a floor, and gives way to a deadline given or refused', () => {
    expect(chordDeadline(chord(), [task({ time_limit: 0.1 })])).toBe(MIN_DEFAULT_DEADLINE);
    expect(chordDeadline(chord({ chord_deadline: 3 }), [task({ time_limit: 100 })])).toBe(3);
    expect(
      chordDeadline(chord({ chord_deadline: false }), [task({ time_limit: 1 })]),
    ).toBeUndefined();
  });

  it('is none when a header task has no time limit: nothing bounds its run', () => {
    expect(chordDeadline(chord(), [task({ time_limit: 1 }), task()])).toBeUndefined();
    expect(chordDeadline(chord(), [chain(task({ time_limit: 1 }), task())])).toBeUndefined();
  });
});
