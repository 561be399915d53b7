/**
 * What the Redis result backend writes besides metas: chord join members as Celery writes
 * them (`[1, task id, state, result]` in Python's JSON) and our revoke notices.
 * Must never throw on a member or notice written by someone else: unreadable ones are skipped.
 */
import { parseCeleryJson, toPythonJson } from '../../protocol/json.js';
import type { JsonValue, ResultMeta } from '../../protocol/types.js';

/** A chord join member, exactly as Celery's `encode([1, tid, state, result])` writes it. */
export function chordMember(meta: ResultMeta): string {
  return toPythonJson([1, meta.task_id, meta.status, meta.result]);
}

/** The join's members (already in index order) as metas. */
export function chordResultsOf(members: readonly string[]): ResultMeta[] {
  const metas: ResultMeta[] = [];
  for (const member of members) {
    let value: JsonValue;
    try {
      value = parseCeleryJson(member);
    } catch {
      continue;
    }
    if (!Array.isArray(value) || value.length < 4) continue;
    const [, taskId, state, result] = value;
    if (typeof taskId !== 'string' || typeof state !== 'string') continue;
    metas.push({ status: state, result: result ?? null, traceback: null, children: [], date_done: null, task_id: taskId });
  }
  return metas;
}

/** A revoke notice: the ids, whether to stop them if running, and until when (unix ms) it holds. */
export function encodeRevoke(ids: readonly string[], terminate: boolean, until: number): string {
  return JSON.stringify({ ids, terminate, until });
}

export function decodeRevoke(text: string): { ids: string[]; terminate: boolean; until: number } | undefined {
  try {
    const value = JSON.parse(text) as { ids?: unknown; terminate?: unknown; until?: unknown };
    if (!Array.isArray(value.ids)) return undefined;
    return {
      ids: value.ids.filter((id): id is string => typeof id === 'string'),
      terminate: value.terminate === true,
      until: typeof value.until === 'number' ? value.until : Date.now() + 86_400_000,
    };
  } catch {
    return undefined;
  }
}
