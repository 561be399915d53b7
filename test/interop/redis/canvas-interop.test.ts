/**
 * Workflows shared with real Python Celery 5.2 on one Redis of the test's own: a chain
 * through Celeriac, Python and Celeriac tasks; chords whose header runs on one side and
 * whose body on the other (Celery's Redis chord counters, read and written by both);
 * `link` and `link_error` sent from Python and run by a Celeriac worker. Python tasks run on
 * queue `pyq`, Celeriac tasks on `celery`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celeriac, chain, chord, group } from '../../../src/index.js';
import { FIXTURES, InteropWorld, PYTHON, pythonCeleryMissing } from './interop-support.js';

const missing = await pythonCeleryMissing();
if (missing && process.env.CI === 'true')
  throw new Error(`CI=true and Python Celery is required: ${missing}`);
const run = promisify(execFile);

describe('canvas interop with Python Celery on Redis', () => {
  let world: InteropWorld;
  let app: Celeriac;
  let raw: Redis;

  beforeEach((ctx) => {
    if (missing !== null) ctx.skip(`Python Celery not available: ${missing}`);
  });

  beforeAll(async () => {
    if (missing !== null) return;
    world = await InteropWorld.start();
    app = new Celeriac({ broker: world.brokerUrl, backend: world.backendUrl });
    raw = new Redis(world.brokerUrl);
    await world.nodeWorker(['-c', '4']);
    await world.pythonWorker('pyq', 'py');
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    raw?.disconnect();
    await world?.dispose();
  });

  const pycanvas = async (kind: string): Promise<{ id: string }> => {
    const { stdout } = await run(PYTHON, [path.join(FIXTURES, 'pycanvas.py'), kind], {
      env: {
        ...process.env,
        INTEROP_BROKER: world.brokerUrl,
        INTEROP_BACKEND: world.backendUrl,
        PYTHONPATH: FIXTURES,
        PYTHONDONTWRITEBYTECODE: '1',
      },
      timeout: 60_000,
    });
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1] ?? 'null') as { id: string };
  };
  const runs = async (): Promise<unknown[][]> =>
    (await raw.lrange('interop:runs', 0, -1)).map((l) => JSON.parse(l) as unknown[]);
  const pyAdd = () => app.signature<[x: number, y: number], number>('py.add', { queue: 'pyq' });
  const pyTsum = () => app.signature<[numbers: number[]], number>('py.tsum', { queue: 'pyq' });
  const nodeAdd = () => app.signature<[x: number, y: number], number>('node.add');
  const nodeTsum = () => app.signature<[numbers: number[]], number>('node.tsum');

  it('a chain sent by Celeriac runs Celeriac, then Python, then Celeriac tasks', async () => {
    const result = await chain(nodeAdd().s(1, 2), pyAdd().s(10), nodeAdd().s(100)).delay();
    expect(await result.get({ timeout: 30 })).toBe(113);
    expect(await result.parent?.get({ timeout: 5 })).toBe(13);
  });

  it('a chain sent by Python runs Python, then Celeriac, then Python tasks', async () => {
    const { id } = await pycanvas('chain_py_node');
    expect(await app.asyncResult(id).get({ timeout: 30 })).toBe(113);
  });

  it('a chord sent by Celeriac with its header on Python and its body on Celeriac', async () => {
    const result = await chord(
      [1, 2, 3, 4].map((i) => pyAdd().s(i, i)),
      nodeTsum().s(),
    ).delay();
    expect(await result.get({ timeout: 30 })).toBe(20);
  });

  it('a chord sent by Python with its header on Python and its body on Celeriac', async () => {
    const { id } = await pycanvas('chord_py_node');
    expect(await app.asyncResult(id).get({ timeout: 30 })).toBe(20);
  });

  it('a chord sent by Celeriac with its header on Celeriac and its body on Python', async () => {
    await raw.del('interop:runs');
    const result = await chord(
      [1, 2, 3, 4, 5].map((i) => nodeAdd().s(i, 0)),
      pyTsum().s(),
    ).delay();
    expect(await result.get({ timeout: 30 })).toBe(15);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await runs()).filter((r) => r[1] === 'tsum')).toEqual([['python', 'tsum']]);
  });

  it('a group directly in a chord header unrolls, sent by Celeriac with its header on Python', async () => {
    const result = await chord(
      [group(pyAdd().s(1, 1), pyAdd().s(2, 2)), nodeAdd().s(3, 3)],
      nodeTsum().s(),
    ).delay();
    expect(result.parent.results).toHaveLength(3);
    expect(await result.get({ timeout: 30 })).toBe(12);
  });

  it('a chord with a group in its header, in a chain sent by Python, applied by a Celeriac worker', async () => {
    // node.add(1, 1) = 2, then py.add(2, 1) + py.add(2, 2) + node.add(2, 3) = 3 + 4 + 5.
    const { id } = await pycanvas('chain_nested_chord');
    expect(await app.asyncResult(id).get({ timeout: 30 })).toBe(12);
  });

  it('link and link_error sent from Python run on Celeriac', async () => {
    await raw.del('interop:runs');
    const linked = await pycanvas('link');
    expect(await app.asyncResult(linked.id).get({ timeout: 30 })).toBe(5);
    const failed = await pycanvas('link_error');
    await expect(app.asyncResult(failed.id).get({ timeout: 30 })).rejects.toThrow('py-sent');
    const deadline = Date.now() + 10_000;
    while ((await runs()).length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const echoes = (await runs()).map((r) => r[1] as string).sort();
    expect(echoes).toEqual(
      [
        `echo:${JSON.stringify([5, 'linked'])}`,
        `echo:${JSON.stringify([failed.id, 'errback'])}`,
      ].sort(),
    );
  });
});
