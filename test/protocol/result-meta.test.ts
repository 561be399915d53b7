/**
 * Proves what a Python Celery client gets from the exceptions our workers store, that
 * exceptions round-trip between the two, and how result metas are built and validated.
 */
import { describe, expect, it } from 'vitest';
import type { ResultMeta } from '../../src/protocol/types.js';
import {
  MalformedResultMetaError,
  RemoteTaskError,
  buildResultMeta,
  decodeResultMeta,
  deserializeError,
  encodeResultMeta,
  formatTraceback,
  serializeError,
} from '../../src/protocol/index.js';

describe('serializeError', () => {
  it('writes JS built-in errors as the closest Python builtin, so Python raises and can catch them', () => {
    expect(serializeError(new Error('boom'))).toEqual({
      exc_type: 'Exception',
      exc_message: ['boom'],
      exc_module: 'builtins',
      exc_js_type: 'Error',
    });
    expect(serializeError(new TypeError('bad type'))).toMatchObject({
      exc_type: 'TypeError',
      exc_module: 'builtins',
    });
    expect(serializeError(new RangeError('too big'))).toMatchObject({
      exc_type: 'ValueError',
      exc_js_type: 'RangeError',
    });
    expect(serializeError(new SyntaxError('bad json'))).toMatchObject({ exc_type: 'ValueError' });
    expect(serializeError(new ReferenceError('x is not defined'))).toMatchObject({
      exc_type: 'NameError',
    });
    expect(serializeError(new URIError('bad uri'))).toMatchObject({ exc_type: 'ValueError' });
  });

  it('keeps a custom class name in exc_js_type and maps it by its nearest built-in ancestor', () => {
    class PaymentDeclined extends Error {}
    class OutOfRange extends RangeError {}
    expect(serializeError(new PaymentDeclined('card declined'))).toEqual({
      exc_type: 'Exception',
      exc_message: ['card declined'],
      exc_module: 'builtins',
      exc_js_type: 'PaymentDeclined',
    });
    expect(serializeError(new OutOfRange('x'))).toMatchObject({
      exc_type: 'ValueError',
      exc_js_type: 'OutOfRange',
    });
  });

  it('uses a JS class named like a safe Python builtin as that builtin', () => {
    class ValueError extends Error {}
    class KeyError extends Error {
      override name = 'KeyError';
    }
    expect(serializeError(new ValueError('v'))).toMatchObject({
      exc_type: 'ValueError',
      exc_module: 'builtins',
    });
    expect(serializeError(new KeyError('k'))).toMatchObject({ exc_type: 'KeyError' });
  });

  it('never names a Python class that is not an ordinary exception (SystemExit, print)', () => {
    class SystemExit extends Error {}
    class print extends Error {}
    class KeyboardInterrupt extends Error {
      override name = 'KeyboardInterrupt';
    }
    for (const error of [new SystemExit('x'), new print('x'), new KeyboardInterrupt('x')]) {
      expect(serializeError(error).exc_type).toBe('Exception');
    }
  });

  it('maps timeouts and Node system errors to the matching OSError subclasses', () => {
    expect(serializeError(new DOMException('timed out', 'TimeoutError'))).toMatchObject({
      exc_type: 'TimeoutError',
      exc_js_type: 'TimeoutError',
    });
    expect(
      serializeError(Object.assign(new Error('no such file'), { code: 'ENOENT' })),
    ).toMatchObject({ exc_type: 'FileNotFoundError' });
    expect(
      serializeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
    ).toMatchObject({ exc_type: 'ConnectionRefusedError' });
  });

  it('writes an error that declares its Celery identity unchanged', () => {
    const revoked = Object.assign(new Error('revoked'), {
      excType: 'TaskRevokedError',
      excModule: 'celery.exceptions',
    });
    expect(serializeError(revoked)).toEqual({
      exc_type: 'TaskRevokedError',
      exc_message: ['revoked'],
      exc_module: 'celery.exceptions',
    });
    const limit = {
      excType: 'TimeLimitExceeded',
      excModule: 'billiard.exceptions',
      excMessage: [30],
    };
    expect(serializeError(limit)).toEqual({
      exc_type: 'TimeLimitExceeded',
      exc_message: [30],
      exc_module: 'billiard.exceptions',
    });
  });

  it('passes a Python exception read from a meta through unchanged (chords, re-raises)', () => {
    const original = {
      exc_type: 'CustomError',
      exc_message: ['custom failure', 7],
      exc_module: 'tasks',
    };
    expect(serializeError(deserializeError(original))).toEqual(original);
  });

  it('turns thrown non-errors into Exception with the value as its argument', () => {
    expect(serializeError('plain string')).toEqual({
      exc_type: 'Exception',
      exc_message: ['plain string'],
      exc_module: 'builtins',
    });
    expect(serializeError({ code: 7 })).toEqual({
      exc_type: 'Exception',
      exc_message: [{ code: 7 }],
      exc_module: 'builtins',
    });
    expect(serializeError(undefined)).toEqual({
      exc_type: 'Exception',
      exc_message: [],
      exc_module: 'builtins',
    });
    expect(serializeError(NaN).exc_message).toEqual(['NaN']);
  });
});

describe('deserializeError', () => {
  it('names the error after exc_type and takes the message from the first string argument', () => {
    const error = deserializeError(
      { exc_type: 'ValueError', exc_message: ['bad', 1], exc_module: 'builtins' },
      'Traceback ...',
    );
    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toBeInstanceOf(Error);
    expect([error.name, error.message, error.excType, error.excModule, error.traceback]).toEqual([
      'ValueError',
      'bad',
      'ValueError',
      'builtins',
      'Traceback ...',
    ]);
    expect(error.qualifiedType).toBe('ValueError');
  });

  it("uses Python's str(exc) when the first argument is not a string", () => {
    expect(deserializeError({ exc_type: 'E', exc_message: [], exc_module: 'm' }).message).toBe('');
    expect(deserializeError({ exc_type: 'E', exc_message: [42], exc_module: 'm' }).message).toBe(
      '42',
    );
    expect(
      deserializeError({ exc_type: 'E', exc_message: [1, 'two'], exc_module: 'm' }).message,
    ).toBe("(1, 'two')");
  });

  it('accepts a bare exc_message and a null exc_module, as older or foreign writers send', () => {
    const error = deserializeError({
      exc_type: 'Oops',
      exc_message: 'just text' as never,
      exc_module: null as never,
    });
    expect([error.message, error.excModule, error.qualifiedType]).toEqual([
      'just text',
      null,
      'Oops',
    ]);
  });

  it('restores the JS class name of an error a Celeriac worker stored', () => {
    class PaymentDeclined extends Error {}
    const error = deserializeError(serializeError(new PaymentDeclined('card declined')));
    expect([error.name, error.excType, error.jsType, error.message]).toEqual([
      'PaymentDeclined',
      'Exception',
      'PaymentDeclined',
      'card declined',
    ]);
  });
});

describe('formatTraceback', () => {
  // tblib's frame pattern, which Python clients use on this text with task_remote_tracebacks.
  const FRAME = /^\s*File "(.+)", line (\d+)(, in (.+))?$/;

  it('writes a JS stack as a Python traceback tblib can parse, innermost frame last', () => {
    function inner(): never {
      throw new RangeError('card declined');
    }
    let caught: unknown;
    try {
      inner();
    } catch (error) {
      caught = error;
    }
    const text = formatTraceback(caught);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('Traceback (most recent call last):');
    const frames = lines.slice(1, -1);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(frame).toMatch(FRAME);
    expect(frames.at(-1)).toMatch(/, in inner$/);
    expect(lines.at(-1)).toBe('RangeError: card declined');
  });

  it('still gives tblib one frame when the error has no stack', () => {
    const error = new Error('no stack');
    delete error.stack;
    expect(formatTraceback(error)).toBe(
      'Traceback (most recent call last):\n  File "<unknown>", line 0, in <unknown>\nError: no stack\n',
    );
    expect(formatTraceback('thrown text')).toMatch(/\nException: thrown text\n$/);
  });
});

describe('result metas', () => {
  const now = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

  it('builds SUCCESS metas as Celery 5.6 stores them, date_done in +00:00', () => {
    const meta = buildResultMeta({ taskId: 'abc', status: 'SUCCESS', result: 5, now });
    expect(encodeResultMeta(meta)).toBe(
      '{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2030-01-02T03:04:05.678000+00:00", "task_id": "abc"}',
    );
  });

  it('leaves date_done null for states that are not ready and writes group/parent only when set', () => {
    const meta = buildResultMeta({
      taskId: 'abc',
      status: 'PROGRESS',
      result: { current: 1 },
      groupId: 'g',
      parentId: null,
      now,
    });
    expect(encodeResultMeta(meta)).toBe(
      '{"status": "PROGRESS", "result": {"current": 1}, "traceback": null, "children": [], "date_done": null, "group_id": "g", "task_id": "abc"}',
    );
  });

  it("writes Celery's key order whatever order the meta's own keys are in", () => {
    const meta = {
      task_id: 'abc',
      date_done: null,
      children: [],
      traceback: null,
      result: 'ü',
      status: 'STARTED',
      parent_id: 'p',
      date_started: undefined,
    } as unknown as ResultMeta; // as a JavaScript caller may write it
    expect(encodeResultMeta(meta)).toBe(
      '{"status": "STARTED", "result": "\\u00fc", "traceback": null, "children": [], "date_done": null, "parent_id": "p", "task_id": "abc"}',
    );
  });

  it('orders result_extended fields and unknown keys as Celery does, task_id last', () => {
    const meta = buildResultMeta({
      taskId: 'abc',
      status: 'FAILURE',
      result: serializeError(new TypeError('nope')),
      traceback: 'tb',
      now,
      extended: {
        name: 'tasks.add',
        args: [2, 3],
        kwargs: {},
        worker: 'w1@host',
        retries: 0,
        queue: 'celery',
      },
    });
    const text = encodeResultMeta({ ...meta, stamped_headers: ['a'], task_id: 'abc' });
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      'status',
      'result',
      'traceback',
      'children',
      'date_done',
      'name',
      'args',
      'kwargs',
      'worker',
      'retries',
      'queue',
      'stamped_headers',
      'task_id',
    ]);
    expect(decodeResultMeta(text)).toEqual({ ...meta, stamped_headers: ['a'] });
  });

  it('rejects text that is not a result meta, saying what is missing', () => {
    expect(() => decodeResultMeta('nope')).toThrow(MalformedResultMetaError);
    expect(() => decodeResultMeta('[]')).toThrow(/not a JSON object/);
    expect(() => decodeResultMeta('{"result": 1, "task_id": "x"}')).toThrow(
      /task x: "status" is missing/,
    );
    expect(() => decodeResultMeta('{"status": "SUCCESS"}')).toThrow(/"task_id" is missing/);
    expect(() => decodeResultMeta('{"status": "SUCCESS", "task_id": "x", "children": 3}')).toThrow(
      /"children" is not a list/,
    );
    expect(() => decodeResultMeta('{"status": "SUCCESS", "task_id": "x", "traceback": 1}')).toThrow(
      /"traceback"/,
    );
  });

  it('fills the fields an rpc:// result message leaves out', () => {
    const meta = decodeResultMeta(
      '{"task_id": "x", "status": "SUCCESS", "result": 5, "traceback": null, "children": []}',
    );
    expect(meta).toEqual({
      task_id: 'x',
      status: 'SUCCESS',
      result: 5,
      traceback: null,
      children: [],
      date_done: null,
    });
  });
});
