/**
 * The metas a worker stores come from the one builder (buildResultMeta) and date only the
 * final states, as Celery does: every meta a Celery 5.6 worker stored in Redis has a
 * `date_done` exactly when its state is SUCCESS, FAILURE or REVOKED, and the worker's
 * meta for the same state and ids encodes to the same text but for the date itself.
 */
import { describe, expect, it } from 'vitest';
import {
  buildResultMeta,
  decodeResultMeta,
  encodeResultMeta,
  formatCeleryDate,
} from '../../src/protocol/index.js';
import { READY_STATES } from '../../src/protocol/types.js';
import { metaFor } from '../../src/worker/result-states.js';
import { storedMetas } from '../protocol/wire-vectors.js';

describe('the worker’s result metas', () => {
  it('date only SUCCESS, FAILURE and REVOKED, as every meta a Celery 5.6 worker stored does', () => {
    const stored = storedMetas('celery-5.6.3', 'worker_results.json').map((m) => ({
      raw: m.raw,
      meta: decodeResultMeta(m.raw),
    }));
    const states = new Set(stored.map(({ meta }) => meta.status));
    for (const state of ['SUCCESS', 'FAILURE', 'REVOKED', 'STARTED', 'RETRY', 'PROGRESS'])
      expect(states).toContain(state);
    for (const { raw, meta: celery } of stored) {
      expect(celery.date_done !== null).toBe(READY_STATES.has(celery.status));
      const ours = metaFor(
        {
          id: celery.task_id,
          groupId: celery.group_id ?? null,
          parentId: celery.parent_id ?? null,
        },
        celery.status,
        celery.result,
        celery.traceback,
      );
      expect(ours.date_done !== null).toBe(celery.date_done !== null);
      const sameDate = { ...ours, date_done: celery.date_done, children: celery.children };
      expect(encodeResultMeta(sameDate)).toBe(raw.replace('"children": null', '"children": []'));
    }
  });

  it('is what buildResultMeta builds, dated now for a final state', () => {
    const before = Date.now();
    const done = metaFor({ id: 't', groupId: 'g', parentId: 'p' }, 'SUCCESS', 5);
    expect(Date.parse(done.date_done!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(done).toEqual(
      buildResultMeta({
        taskId: 't',
        status: 'SUCCESS',
        result: 5,
        groupId: 'g',
        parentId: 'p',
        dateDone: new Date(Date.parse(done.date_done!)),
      }),
    );
    for (const state of ['STARTED', 'RETRY', 'PROGRESS', 'SCRAPING']) {
      expect(metaFor({ id: 't' }, state, null).date_done).toBeNull();
    }
  });

  it('writes a date on a whole second as Python’s isoformat does (no fraction)', () => {
    const second = Date.UTC(2030, 0, 2, 3, 4, 5, 0);
    const meta = buildResultMeta({ taskId: 't', status: 'FAILURE', now: second });
    expect(meta.date_done).toBe('2030-01-02T03:04:05+00:00');
    expect(meta.date_done).toBe(formatCeleryDate(new Date(second)));
  });
});
