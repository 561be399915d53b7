/**
 * A message that carries a workflow in its body's embed (`callbacks`, `errbacks`, `chain`,
 * `chord`, written as Python Celery writes them: see the wire vectors) run by real worker
 * processes on SQLite: every follow-up is sent, none dropped; what cannot be honoured is
 * refused loudly.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { encodeTaskMessage, type TaskMessageSpec } from '../../src/protocol/task-message.js';
import type { SignatureJson } from '../../src/protocol/types.js';
import { killAll, startWorker } from '../support/worker-process.js';

const APP = 'test/canvas/fixtures/canvas-app.ts';

let dir: string;
let url: string;
let runLog: string;
let client: Celeriac;
let env: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-canvas-'));
  url = `sqlite://${path.join(dir, 'broker.db')}`;
  runLog = path.join(dir, 'runs.log');
  env = { CELERIAC_BROKER_URL: url, TEST_RUN_LOG: runLog };
  client = new Celeriac({ broker: url });
});

afterEach(async () => {
  await killAll();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

const runs = () =>
  existsSync(runLog) ? readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean) : [];

/** A signature as Python's `task.s(...)` / `.si(...)` serialises it. */
const sig = (
  task: string,
  args: unknown[] = [],
  options: Record<string, unknown> = {},
  immutable = false,
): SignatureJson =>
  ({ task, args, kwargs: {}, options, subtask_type: null, immutable }) as SignatureJson;

async function publish(spec: Omit<TaskMessageSpec, 'origin' | 'kwargs'>): Promise<void> {
  const broker = await client.broker();
  await broker.publish(encodeTaskMessage({ origin: 'gen1@test', kwargs: {}, ...spec }), {
    queue: 'celery',
  });
}

async function waitForRuns(count: number, timeoutMs = 15_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  while (runs().length < count && Date.now() < until) await sleep(25);
  return runs();
}

describe('a workflow sent in the embed, as Python Celery sends it', () => {
  it('sends every link with the result first, and the errbacks of a failed task', async () => {
    await startWorker(APP, env, ['-c', '4']);
    const id = randomUUID();
    // add.apply_async((2, 3), link=[echo.s('ok-1'), echo.s('ok-2')], link_error=echo.si('err'))
    await publish({
      task: 'tasks.add',
      id,
      args: [2, 3],
      callbacks: [sig('tasks.echo', ['ok-1']), sig('tasks.echo', ['ok-2'])],
      errbacks: [sig('tasks.echo', ['err'], {}, true)],
    });
    await expect(client.asyncResult(id).get({ timeout: 15 })).resolves.toBe(5);
    const lines = (await waitForRuns(3)).filter((l) => l.startsWith('echo'));
    expect(lines.map((l) => l.split(' ')[1]).sort()).toEqual(['[5,"ok-1"]', '[5,"ok-2"]']);
    expect(lines.every((l) => l.split(' ')[3] === id)).toBe(true); // parent_id is the linking task

    // fail.apply_async(link_error=echo.s('errback')): the errback gets the failed task's id.
    const failed = randomUUID();
    await publish({
      task: 'tasks.fail',
      id: failed,
      args: ['bad'],
      callbacks: [sig('tasks.echo', ['never'])],
      errbacks: [sig('tasks.echo', ['errback'])],
    });
    await expect(client.asyncResult(failed).get({ timeout: 15 })).rejects.toThrow('bad');
    const after = (await waitForRuns(5)).filter((l) => l.startsWith('echo'));
    expect(after.map((l) => l.split(' ')[1])).toContain(JSON.stringify([failed, 'errback']));
    expect(after.join('\n')).not.toContain('never');
  });

  it('runs a chain in order, each result first in the next, the reversed list as Celery sends it', async () => {
    await startWorker(APP, env, ['-c', '2', '-n', 'a@test']);
    await startWorker(APP, env, ['-c', '2', '-n', 'b@test']);
    // (add.s(1, 2) | add.s(3) | add.si(10, 20)).apply_async(): send_chain_3.json's body.
    const [first, second, third] = [randomUUID(), randomUUID(), randomUUID()];
    await publish({
      task: 'tasks.add',
      id: first,
      args: [1, 2],
      chain: [
        sig('tasks.add', [10, 20], { task_id: third }, true),
        sig('tasks.add', [3], { task_id: second }),
      ],
    });
    await expect(client.asyncResult(third).get({ timeout: 15 })).resolves.toBe(30);
    await expect(client.asyncResult(second).get({ timeout: 5 })).resolves.toBe(6);
    const adds = runs().filter((l) => l.startsWith('add'));
    expect(adds.map((l) => l.split(' ')[1])).toEqual(['[1,2]', '[3,3]', '[10,20]']);
    expect(adds.map((l) => l.split(' ')[3])).toEqual(['-', first, second]);
  });

  it('fails every task left in a chain when one fails, and sends its errbacks', async () => {
    await startWorker(APP, env, ['-c', '2']);
    const [first, second, third] = [randomUUID(), randomUUID(), randomUUID()];
    await publish({
      task: 'tasks.fail',
      id: first,
      args: ['chain broke'],
      chain: [
        sig('tasks.add', [1], { task_id: third }),
        sig('tasks.add', [2], { task_id: second }),
      ],
      errbacks: [sig('tasks.echo', ['chain-errback'])],
    });
    await expect(client.asyncResult(third).get({ timeout: 15 })).rejects.toThrow('chain broke');
    await expect(client.asyncResult(second).get({ timeout: 5 })).rejects.toThrow('chain broke');
    await waitForRuns(2);
    expect(runs().filter((l) => l.startsWith('add'))).toEqual([]);
    expect(runs().some((l) => l.includes('chain-errback'))).toBe(true);
  });

  it('joins a chord sent by a Python client: the body runs once with the results in header order', async () => {
    await startWorker(APP, env, ['-c', '3', '-n', 'a@test']);
    await startWorker(APP, env, ['-c', '3', '-n', 'b@test']);
    // chord([add.s(i, i) for i in range(6)])(echo.s()), as send_chord.json: each header
    // task carries the body in `chord`, the group id and its index; the size is set first.
    const groupId = randomUUID();
    const bodyId = randomUUID();
    const backend = await client.resultBackend();
    await backend.chordJoin!().setChordSize(groupId, 6);
    const body = sig('tasks.echo', [], { task_id: bodyId });
    for (let i = 5; i >= 0; i--) {
      await publish({
        task: 'tasks.add',
        id: randomUUID(),
        args: [i, i],
        groupId,
        groupIndex: i,
        chord: body,
      });
    }
    await expect(client.asyncResult(bodyId).get({ timeout: 20 })).resolves.toEqual([
      [0, 2, 4, 6, 8, 10],
    ]);
    await sleep(300);
    expect(runs().filter((l) => l.startsWith('echo'))).toHaveLength(1);
  });

  it('fails the chord body, naming the header task that failed, and sends its errbacks', async () => {
    await startWorker(APP, env, ['-c', '2']);
    const groupId = randomUUID();
    const bodyId = randomUUID();
    const failing = randomUUID();
    const backend = await client.resultBackend();
    await backend.chordJoin!().setChordSize(groupId, 2);
    const body = sig('tasks.echo', [], {
      task_id: bodyId,
      link_error: [sig('tasks.echo', ['body-errback'])],
    });
    await publish({
      task: 'tasks.add',
      id: randomUUID(),
      args: [1, 1],
      groupId,
      groupIndex: 0,
      chord: body,
    });
    await publish({
      task: 'tasks.fail',
      id: failing,
      args: ['header down'],
      groupId,
      groupIndex: 1,
      chord: body,
    });
    const error = await client.asyncResult(bodyId).get({ timeout: 15, propagate: false });
    expect((error as Error).name).toBe('ChordError');
    expect((error as Error).message).toContain(failing);
    await waitForRuns(3);
    expect(runs().some((l) => l.includes('body-errback'))).toBe(true);
    expect(runs().filter((l) => l.startsWith('echo [] '))).toEqual([]);
  });

  it('refuses loudly a workflow it cannot honour, and runs nothing of it', async () => {
    const worker = await startWorker(APP, env, ['-c', '2']);
    const id = randomUUID();
    await publish({
      task: 'tasks.add',
      id,
      args: [1, 2],
      callbacks: [{ ...sig('celery.weird', []), subtask_type: 'weird' }],
    });
    const error = await client.asyncResult(id).get({ timeout: 15, propagate: false });
    expect((error as Error).message).toMatch(/signature type "weird"/);
    await worker.waitFor(/Rejected task tasks\.add\[.*signature type "weird"/);
    expect(runs()).toEqual([]);
  });
});
