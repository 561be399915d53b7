/**
 * Conformance of the task history (TaskHistory), for backends that keep one; a backend
 * without `taskHistory` (rpc://) must say so by leaving it out, and these tests then check
 * nothing but that. Backend-neutral.
 */
import { expect, it } from 'vitest';
import { MAX_TASK_EVENTS, type TaskHistoryEvent } from '../../backends/task-history.js';
import { openBackendSession, sleep, type BackendHarnessFactory } from './harness.js';

const event = (type: TaskHistoryEvent['type'], at: number, detail?: string): TaskHistoryEvent => ({
  type,
  at,
  hostname: 'celery@conformance',
  ...(detail === undefined ? {} : { detail }),
});

export function historyTests(make: BackendHarnessFactory): void {
  it('reads back each task’s events oldest first, ties in append order, from another instance', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.taskHistory) ctx.skip(`${s.backend.kind} keeps no task history`);
    const history = s.backend.taskHistory!();
    const a = s.taskId('a');
    // An id that starts with another's must not see its events.
    const b = `${a}:b`;
    const now = Date.now();
    await history.append(
      [
        { taskId: a, event: event('task-sent', now, 'queue celery') },
        { taskId: b, event: event('task-sent', now) },
        { taskId: a, event: event('task-received', now) },
      ],
      { expiresMs: 60_000 },
    );
    await history.append(
      [
        { taskId: a, event: event('task-started', now + 1) },
        { taskId: a, event: event('task-failed', now + 5, "ValueError('x')") },
      ],
      { expiresMs: 60_000 },
    );
    const other = (await s.another()).taskHistory!();
    const read = await other.read(a);
    expect(read.map((e) => e.type)).toEqual([
      'task-sent',
      'task-received',
      'task-started',
      'task-failed',
    ]);
    expect(read[0]).toEqual(event('task-sent', now, 'queue celery'));
    expect(read[3]!.detail).toBe("ValueError('x')");
    expect((await history.read(b)).map((e) => e.type)).toEqual(['task-sent']);
    expect(await history.read(s.taskId('none'))).toEqual([]);
  });

  it(`keeps the newest ${MAX_TASK_EVENTS} events of a task`, async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.taskHistory) ctx.skip(`${s.backend.kind} keeps no task history`);
    const history = s.backend.taskHistory!();
    const id = s.taskId();
    const start = Date.now();
    const entries = Array.from({ length: MAX_TASK_EVENTS + 20 }, (_, i) => ({
      taskId: id,
      event: event('task-retried', start + i, `attempt ${i}`),
    }));
    await history.append(entries.slice(0, 60), { expiresMs: 60_000 });
    await history.append(entries.slice(60), { expiresMs: 60_000 });
    const read = await history.read(id);
    expect(read).toHaveLength(MAX_TASK_EVENTS);
    expect(read[0]!.detail).toBe('attempt 20');
    expect(read.at(-1)!.detail).toBe(`attempt ${MAX_TASK_EVENTS + 19}`);
  });

  it('forgets a task’s events with forget(), and through the backend’s forget()', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.taskHistory) ctx.skip(`${s.backend.kind} keeps no task history`);
    const history = s.backend.taskHistory!();
    const [one, two] = [s.taskId('one'), s.taskId('two')];
    await history.append(
      [
        { taskId: one, event: event('task-sent', Date.now()) },
        { taskId: two, event: event('task-sent', Date.now()) },
      ],
      { expiresMs: 60_000 },
    );
    await history.forget([one]);
    expect(await history.read(one)).toEqual([]);
    await s.backend.forget([two]);
    expect(await history.read(two)).toEqual([]);
  });

  it('lets events expire with the expiry they were appended with', async (ctx) => {
    const s = await openBackendSession(ctx, make);
    if (!s.backend.taskHistory) ctx.skip(`${s.backend.kind} keeps no task history`);
    const history = s.backend.taskHistory!();
    const id = s.taskId();
    await history.append([{ taskId: id, event: event('task-sent', Date.now()) }], {
      expiresMs: 300,
    });
    expect(await history.read(id)).toHaveLength(1);
    await sleep(700);
    expect(await history.read(id)).toEqual([]);
  });
}
