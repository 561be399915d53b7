/**
 * The public view of a result meta: what a browser may see, in the shape it wants, from
 * metas written by Celeriac workers, Python Celery workers and custom task states.
 */
import { describe, expect, it } from 'vitest';
import type { ResultMeta } from '../../src/protocol/types.js';
import { toTaskView } from '../../src/web/index.js';

const meta = (
  status: string,
  result: ResultMeta['result'],
  extra: Partial<ResultMeta> = {},
): ResultMeta => ({
  status,
  result,
  traceback: null,
  children: [],
  date_done: '2026-11-24T17:40:01.123000+00:00',
  task_id: 't-1',
  ...extra,
});

describe('toTaskView', () => {
  it('names a Celeriac error by its JavaScript class, a Python one by its exception type', () => {
    const js = {
      exc_type: 'Exception',
      exc_message: ['declined'],
      exc_module: 'builtins',
      exc_js_type: 'CardDeclinedError',
    };
    expect(toTaskView(meta('FAILURE', js)).error).toEqual({
      type: 'CardDeclinedError',
      message: 'declined',
    });
    const python = {
      exc_type: 'ValueError',
      exc_message: ['bad amount', 3],
      exc_module: 'builtins',
    };
    expect(toTaskView(meta('FAILURE', python)).error).toEqual({
      type: 'ValueError',
      message: 'bad amount, 3',
    });
  });

  it('gives a revoke without a stored error a readable one', () => {
    expect(toTaskView(meta('REVOKED', null)).error).toEqual({
      type: 'TaskRevokedError',
      message: 'The task was revoked.',
    });
  });

  it('passes the meta of a custom state through as the result, but not what STARTED records', () => {
    expect(toTaskView(meta('UPLOADING', { file: 'a.csv', rows: 10 })).result).toEqual({
      file: 'a.csv',
      rows: 10,
    });
    expect(toTaskView(meta('STARTED', { pid: 1, hostname: 'w1' })).result).toBeNull();
    expect(toTaskView(meta('PROGRESS', { current: 1, total: 2, percent: 50 })).result).toBeNull();
  });

  it('normalises Celery dates to ISO 8601 in UTC, reading a date without a zone as UTC', () => {
    expect(toTaskView(meta('SUCCESS', 1)).dateDone).toBe('2026-11-24T17:40:01.123Z');
    expect(
      toTaskView(meta('SUCCESS', 1, { date_done: '2026-11-24T17:40:01.123456' })).dateDone,
    ).toBe('2026-11-24T17:40:01.123Z');
    expect(toTaskView(meta('PENDING', null, { date_done: null })).dateDone).toBeNull();
  });

  it('says which attempt failed and when the next is due while RETRY, from the RETRY meta', () => {
    const declined = {
      exc_type: 'Exception',
      exc_message: ['declined'],
      exc_module: 'builtins',
      exc_js_type: 'CardDeclinedError',
    };
    const retrying = meta('RETRY', declined, {
      retries: 1,
      max_retries: 2,
      eta: '2026-11-24T17:40:03.500000+00:00',
    });
    expect(toTaskView(retrying).retry).toEqual({
      attempt: 2,
      maxAttempts: 3,
      nextAttemptAt: '2026-11-24T17:40:03.500Z',
    });
    // A Python worker records none of it (without result_extended): the view says so with nulls.
    expect(toTaskView(meta('RETRY', declined)).retry).toEqual({
      attempt: null,
      maxAttempts: null,
      nextAttemptAt: null,
    });
    expect(toTaskView(meta('SUCCESS', 1, { retries: 2 })).retry).toBeNull();
  });
});
