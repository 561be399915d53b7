/**
 * The chord join of every key-value backend, written once on the store's primitives:
 * each part is written only if its key is absent (compare-and-set, so a part recorded
 * twice counts once), then an atomic counter says which write was the last. Keys live
 * under `celery-taskset-meta-<gid>` like Celery's (`.s` the size, `.c` our counter, `.p.<task
 * id>` each part), and one-time claims under `celeriac-once-<key>`. Must never interpret a
 * part's result.
 */
import type { ChordJoin, ChordPart } from '../backend.js';
import type { KeyValueStore } from './key-value-store.js';

export function keyValueChordJoin(kv: KeyValueStore, prefix: string, ttlMs: number): ChordJoin {
  const base = (groupId: string) => `${prefix}celery-taskset-meta-${groupId}`;
  const readParts = async (groupId: string): Promise<ChordPart[]> => {
    const keys = await kv.keys(`${base(groupId)}.p.`);
    const values = await kv.mget(keys);
    return values
      .filter((text): text is string => text !== undefined)
      .map((text) => JSON.parse(text) as ChordPart)
      .sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
  };
  return {
    async setChordSize(groupId, size) {
      await kv.set(`${base(groupId)}.s`, String(size), { ttlMs });
    },
    async addChordPart(groupId, part) {
      const key = `${base(groupId)}.p.${part.taskId}`;
      // The size is set before any part is sent: none means the join was cleared.
      const size = Number(await kv.get(`${base(groupId)}.s`));
      if (!Number.isFinite(size) || size <= 0) return null;
      const added = await kv.compareAndSet(
        [{ key, value: undefined }],
        [{ key, value: JSON.stringify(part), ttlMs }],
      );
      if (added) {
        const count = await kv.incr(`${base(groupId)}.c`);
        return count === size ? readParts(groupId) : null;
      }
      // A part recorded before: fire again only when the join is complete (the first
      // completion may have died before sending the body).
      const count = Number((await kv.get(`${base(groupId)}.c`)) ?? 0);
      return count === size ? readParts(groupId) : null;
    },
    async clearChord(groupId) {
      const keys = await kv.keys(`${base(groupId)}.p.`);
      await kv.delete([...keys, `${base(groupId)}.s`, `${base(groupId)}.c`]);
    },
    async claimOnce(key, token) {
      const at = `${prefix}celeriac-once-${key}`;
      if (
        await kv.compareAndSet([{ key: at, value: undefined }], [{ key: at, value: token, ttlMs }])
      )
        return token;
      return (await kv.get(at)) ?? token;
    },
  };
}
