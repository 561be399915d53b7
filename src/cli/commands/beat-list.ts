/**
 * `celeriac beat list`: one line per stored entry with its schedule, next and last slot, and
 * what became of its runs: a run-now waiting for the leading beat, and the last run sent
 * (scheduled or run-now) with its task's state from the result backend. Reads only.
 */
import type { Celeriac } from '../../app/celeriac.js';
import type { StoredEntry } from '../../backends/beat-store.js';
import { dueRuns, scheduleFromJson } from '../../beat/schedules/index.js';

export async function listEntries(
  entries: StoredEntry[],
  app: Celeriac,
  now: number,
): Promise<string[]> {
  if (entries.length === 0) return ['No periodic entries.'];
  return Promise.all(entries.map((entry) => describeEntry(entry, app, now)));
}

async function describeEntry(entry: StoredEntry, app: Celeriac, now: number): Promise<string> {
  const schedule = scheduleFromJson(entry.schedule);
  const due = dueRuns({
    schedule,
    lastRunAt: entry.lastRunAt === null ? null : new Date(entry.lastRunAt),
    now: new Date(now),
    missedRunPolicy: entry.missedRunPolicy,
    createdAt: new Date(entry.createdAt),
  });
  const next = !entry.enabled
    ? 'disabled'
    : due.runNow
      ? 'now'
      : (due.nextRunAt?.toISOString() ?? 'never');
  const last = entry.lastRunAt === null ? 'never' : new Date(entry.lastRunAt).toISOString();
  let line =
    `${entry.name}  task=${entry.task}  schedule=${schedule.describe()}  next=${next}  last=${last}  ` +
    `runs=${entry.totalRuns}  source=${entry.source}`;
  // The leading beat sends a run-now within a second of the request while one runs.
  if (entry.runNowAt !== null)
    line += `  run-now=requested ${new Date(entry.runNowAt).toISOString()}`;
  if (entry.lastTaskId !== null)
    line += `  last-task=${entry.lastTaskId} ${await runState(entry, app)}`;
  return line;
}

/** `sending` until beat confirms the publish, then the task's state as the backend has it. */
async function runState(entry: StoredEntry, app: Celeriac): Promise<string> {
  if (entry.pendingTaskId === entry.lastTaskId) return 'sending';
  if (entry.lastTaskId === null) return '';
  try {
    const meta = await app.asyncResult(entry.lastTaskId).meta();
    return meta.date_done ? `${meta.status} at ${meta.date_done}` : meta.status;
  } catch {
    return 'sent';
  }
}
