/**
 * What the Redis result backend writes besides metas: our revoke notices.
 * Must never throw on a notice written by someone else: unreadable ones are skipped.
 */

/** A revoke notice: the ids, whether to stop them if running, and until when (unix ms) it holds. */
export function encodeRevoke(ids: readonly string[], terminate: boolean, until: number): string {
  return JSON.stringify({ ids, terminate, until });
}

export function decodeRevoke(
  text: string,
): { ids: string[]; terminate: boolean; until: number } | undefined {
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
