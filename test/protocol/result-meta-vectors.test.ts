/**
 * Proves decodeResultMeta reads every result meta a Celery 5.2.6 / 5.6.3 worker stored in
 * Redis, and encodeResultMeta writes them back as the same text.
 */
import { describe, expect, it } from 'vitest';
import {
  RemoteTaskError,
  decodeResultMeta,
  deserializeError,
  encodeResultMeta,
  parseCeleryDate,
  type JsonObject,
  type SerializedError,
} from '../../src/protocol/index.js';
import { STACKS, amqpPublishes, loadVector, storedMetas } from './wire-vectors.js';

const RESULT_FILES = ['worker_results.json', 'worker_results_extended.json'];

describe.each(STACKS)('%s Redis result metas', (stack) => {
  it.for(RESULT_FILES)('%s: every stored meta decodes and re-encodes to the same text', (file) => {
    const metas = storedMetas(stack, file);
    expect(metas.length).toBeGreaterThan(5);
    for (const { raw, key } of metas) {
      const meta = decodeResultMeta(raw);
      expect(`celery-task-meta-${meta.task_id}`).toBe(key);
      if (raw.includes('"children": null')) {
        // 5.6 writes null children for REVOKED; we read them as an empty list.
        expect(meta.children).toEqual([]);
        expect(encodeResultMeta(meta)).toBe(raw.replace('"children": null', '"children": []'));
      } else {
        expect(encodeResultMeta(meta)).toBe(raw);
      }
      if (meta.date_done !== null) {
        const when = parseCeleryDate(meta.date_done);
        expect(when.getUTCFullYear()).toBe(2026);
        // 5.2 writes naive UTC, 5.6 appends +00:00: both denote the same instant.
        expect(meta.date_done.endsWith('+00:00')).toBe(stack === 'celery-5.6.3');
      }
    }
  });

  it('reads each state the capture produced: SUCCESS, FAILURE, STARTED, PROGRESS, RETRY, REVOKED', () => {
    const metas = storedMetas(stack, 'worker_results.json').map((m) => decodeResultMeta(m.raw));
    const byStatus = (status: string) => metas.filter((m) => m.status === status);
    expect(byStatus('SUCCESS').map((m) => m.result)).toContainEqual(5);
    expect(byStatus('STARTED')[0]?.result).toMatchObject({ hostname: 'w1@capture' });
    expect(byStatus('PROGRESS').map((m) => m.result)).toContainEqual({ current: 1, total: 2 });

    const failures = byStatus('FAILURE');
    const builtin = deserializeError(
      failures[0]!.result as SerializedError,
      failures[0]!.traceback,
    );
    expect(builtin).toBeInstanceOf(RemoteTaskError);
    expect(builtin.name).toBe('ValueError');
    expect(builtin.excModule).toBe('builtins');
    expect(builtin.message).toBe('something went wrong: 42');
    expect(builtin.traceback).toMatch(/ValueError: something went wrong: 42\n$/);
    const custom = deserializeError(failures[1]!.result as SerializedError, failures[1]!.traceback);
    expect([custom.excModule, custom.excType, custom.message, custom.excMessage]).toEqual([
      'tasks',
      'CustomError',
      'custom failure',
      ['custom failure', 7],
    ]);
    expect(custom.qualifiedType).toBe('tasks.CustomError');

    const retry = deserializeError(byStatus('RETRY')[0]!.result as SerializedError);
    expect([retry.name, retry.message]).toEqual(['RuntimeError', 'transient problem']);
    const revoked = byStatus('REVOKED')[0]!;
    expect(deserializeError(revoked.result as SerializedError).qualifiedType).toBe(
      'celery.exceptions.TaskRevokedError',
    );
    expect(revoked.date_done).not.toBeNull();
  });

  it('reads result_extended fields: name, args, kwargs, worker, retries, queue', () => {
    const metas = storedMetas(stack, 'worker_results_extended.json').map((m) =>
      decodeResultMeta(m.raw),
    );
    const echo = metas.find((m) => m.name === 'tasks.echo' && m.status === 'SUCCESS');
    expect(echo).toMatchObject({
      args: ['a', 1],
      kwargs: { k: 'v' },
      worker: 'w1@capture',
      retries: 0,
      queue: 'celery',
    });
  });

  it('agrees with what the Python client itself read back (calls[].meta)', () => {
    const calls = loadVector(stack, 'redis', 'worker_results.json').calls as JsonObject[];
    const stored = new Map(
      storedMetas(stack, 'worker_results.json').map((m) => [m.key, decodeResultMeta(m.raw)]),
    );
    let compared = 0;
    for (const call of calls) {
      const meta = call.meta as JsonObject | undefined;
      if (!meta) continue;
      const candidates = [...stored.values()].filter(
        (m) => m.task_id === meta.task_id && m.status === meta.status,
      );
      if (candidates.length === 0) continue;
      expect(candidates.map((m) => m.result)).toContainEqual(meta.result);
      compared++;
    }
    expect(compared).toBeGreaterThan(3);
  });
});

describe.each(STACKS)('%s rpc:// result messages', (stack) => {
  it('decode as metas without date_done', () => {
    const results = amqpPublishes(stack, 'worker_results_rpc.json').filter((p) =>
      p.body.startsWith('{"task_id"'),
    );
    expect(results.length).toBeGreaterThan(3);
    for (const publish of results) {
      const meta = decodeResultMeta(publish.body);
      expect(meta.task_id).toBe(publish.properties.correlation_id);
      expect(meta.date_done).toBeNull();
    }
  });
});
