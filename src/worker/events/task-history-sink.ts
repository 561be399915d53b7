/**
 * The worker's side of the task history (the app's `taskHistory`): each task event the
 * executor tells becomes one history entry, written in batches by the recorder. Keeps a
 * short detail per event (the exception repr, the run time, how it was revoked), never
 * the arguments or the result. Must never throw into the executor.
 */
import type { TaskHistoryRecorder } from '../../app/task-history-recorder.js';
import type { TransportMessage } from '../../protocol/types.js';
import { errorFields, type TaskEventListener } from './task-events.js';

export class TaskHistorySink implements TaskEventListener {
  constructor(private readonly recorder: TaskHistoryRecorder) {}

  received(message: TransportMessage): void {
    const h = message.headers;
    if (typeof h.id !== 'string') return;
    const retries = typeof h.retries === 'number' && h.retries > 0 ? `retry ${h.retries}` : '';
    const eta = typeof h.eta === 'string' ? `eta ${h.eta}` : '';
    const detail = [retries, eta].filter(Boolean).join(', ');
    this.recorder.record(h.id, 'task-received', detail || undefined);
  }

  started(id: string): void {
    this.recorder.record(id, 'task-started');
  }

  succeeded(id: string, _result: unknown, runtimeSeconds: number): void {
    this.recorder.record(id, 'task-succeeded', `in ${runtimeSeconds.toFixed(3)} s`);
  }

  failed(id: string, error: unknown): void {
    this.recorder.record(id, 'task-failed', errorFields(error).exception);
  }

  retried(id: string, error: unknown): void {
    this.recorder.record(id, 'task-retried', errorFields(error).exception);
  }

  revoked(id: string, how: { terminated: boolean; expired: boolean; signum?: string }): void {
    const detail = how.expired ? 'expired' : how.terminated ? 'terminated' : undefined;
    this.recorder.record(id, 'task-revoked', detail);
  }

  rejected(id: string, requeue: boolean): void {
    this.recorder.record(id, 'task-rejected', requeue ? 'requeued' : 'dropped');
  }
}
