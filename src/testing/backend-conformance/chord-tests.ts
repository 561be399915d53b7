/**
 * Conformance of the chord join (ChordJoin) and saved groups, for backends that keep them;
 * a backend without `chordJoin` (rpc://) must say so by leaving it out, and these tests
 * then check nothing but that. Backend-neutral.
 */
import { expect, it } from 'vitest';
import type { ChordPart } from '../../backends/backend.js';
import { openBackendSession, type BackendHarnessFactory } from './harness.js';

export function chordTests(make: BackendHarnessFactory): void {
  it('completes a join exactly once among concurrent parts, with the parts in header order', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.chordJoin) ctx.skip(`${s.backend.kind} keeps no chord counters`);
    const join = s.backend.chordJoin!();
    const other = s.backend.chordJoin!();
    const groupId = s.taskId('group');
    const size = 20;
    await join.setChordSize(groupId, size);
    const parts: ChordPart[] = Array.from({ length: size }, (_, i) => ({
      taskId: s.taskId(`part${i}`),
      index: i,
      state: i === 7 ? 'FAILURE' : 'SUCCESS',
      result: i === 7 ? { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' } : i,
    }));
    const replies = await Promise.all(
      [...parts].reverse().map((part, i) => (i % 2 ? join : other).addChordPart(groupId, part)),
    );
    const complete = replies.filter((reply) => reply !== null);
    expect(complete).toHaveLength(1);
    expect(complete[0]!.map((p) => p.taskId)).toEqual(parts.map((p) => p.taskId));
    expect(complete[0]![7]!.state).toBe('FAILURE');
    expect(complete[0]![3]!.result).toBe(3);
    await join.clearChord(groupId);
    // After the clear, a late duplicate finds nothing to complete.
    expect(await join.addChordPart(groupId, parts[0]!)).toBeNull();
  });

  it('counts a part recorded twice once, and re-completes a complete join for its duplicate', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.chordJoin) ctx.skip(`${s.backend.kind} keeps no chord counters`);
    const join = s.backend.chordJoin!();
    const groupId = s.taskId('group');
    await join.setChordSize(groupId, 2);
    const first: ChordPart = { taskId: s.taskId('a'), index: 0, state: 'SUCCESS', result: 1 };
    const second: ChordPart = { taskId: s.taskId('b'), index: 1, state: 'SUCCESS', result: 2 };
    expect(await join.addChordPart(groupId, first)).toBeNull();
    expect(await join.addChordPart(groupId, first)).toBeNull(); // a redelivery: not the second part
    expect((await join.addChordPart(groupId, second))?.map((p) => p.result)).toEqual([1, 2]);
    // The completing task redelivered before the body was sent and the join cleared.
    expect((await join.addChordPart(groupId, second))?.map((p) => p.result)).toEqual([1, 2]);
    await join.clearChord(groupId);
  });

  it('skips a part of a join whose size is not recorded (cleared), writing nothing', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.chordJoin) ctx.skip(`${s.backend.kind} keeps no chord counters`);
    const join = s.backend.chordJoin!();
    const groupId = s.taskId('group');
    const part: ChordPart = { taskId: s.taskId('late'), index: 0, state: 'SUCCESS', result: 1 };
    expect(await join.addChordPart(groupId, part)).toBeNull();
    // Had the late part been recorded, a join of size 1 set now would be complete at once.
    await join.setChordSize(groupId, 1);
    const other: ChordPart = { taskId: s.taskId('real'), index: 0, state: 'SUCCESS', result: 2 };
    expect((await join.addChordPart(groupId, other))?.map((p) => p.result)).toEqual([2]);
    await join.clearChord(groupId);
  });

  it('claims a key once: the first token holds it for every caller', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.chordJoin) ctx.skip(`${s.backend.kind} keeps no chord counters`);
    const join = s.backend.chordJoin!();
    const other = s.backend.chordJoin!();
    const key = s.taskId('claim');
    const tokens = Array.from({ length: 10 }, (_, i) => `token-${i}`);
    const holders = await Promise.all(
      tokens.map((token, i) => (i % 2 ? join : other).claimOnce(key, token)),
    );
    expect(new Set(holders).size).toBe(1);
    expect(tokens).toContain(holders[0]);
    expect(await join.claimOnce(key, 'late')).toBe(holders[0]);
    expect(await join.claimOnce(s.taskId('another'), 'late')).toBe('late');
  });

  it('saves a group value and reads it back', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.saveGroup || !s.backend.getGroup) ctx.skip(`${s.backend.kind} keeps no groups`);
    const groupId = s.taskId('group');
    const value = { result: [[groupId, null], [[[s.taskId('m'), null], null]]] };
    await s.backend.saveGroup!(groupId, value);
    expect(await s.backend.getGroup!(groupId)).toEqual(value);
    expect(await s.backend.getGroup!(s.taskId('absent'))).toBeUndefined();
  });
}
