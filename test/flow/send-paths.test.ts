/**
 * Every way a task is sent takes the one flow step (src/flow/flow-send.ts), so an
 * idempotency key and a debounce hold whichever path sends it: `delay`/`applyAsync`,
 * `app.sendTask`, `app.sendMany`, a signature, a chain (its later task sent by the
 * worker's follow-up), a group, a chord (header and body), beat, a worker's retry, and a
 * web app's `sendAndRespond`. Each path sends twice; the runs a real worker makes are
 * counted. On SQLite (broker and backend in one file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Beat, Celeriac, chain, chord, crontab, group, type TaskOptions } from '../../src/index.js';
import { sendAndRespond } from '../../src/web/index.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';

const QUIET = 0.4;
let dir: string;
let app: Celeriac;
let worker: Worker;
const runs: Array<{ task: string; key: string; value: number; attempt: number }> = [];

const record = (task: string) =>
  function (this: { retries: number }, key: string, value: number) {
    runs.push({ task, key, value, attempt: this.retries });
    return `${key}:${value}`;
  };

let plain: ReturnType<typeof define>;
let debounced: ReturnType<typeof define>;
let flaky: ReturnType<typeof define>;
let flakyDebounced: ReturnType<typeof define>;

function define(name: string, options: TaskOptions<[string, number], string> = {}) {
  return app.task(name, record(name), options);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-send-paths-'));
  app = new Celeriac({ broker: `sqlite://${path.join(dir, 'flow.db')}` });
  plain = define('paths.plain');
  debounced = define('paths.debounced', {
    debounce: { delay: QUIET, key: (key) => key },
  });
  const retryOnce = (name: string) =>
    function (
      this: { retries: number; retry(o?: { countdown?: number }): never },
      key: string,
      value: number,
    ) {
      runs.push({ task: name, key, value, attempt: this.retries });
      if (this.retries === 0) this.retry({ countdown: 0 });
      return `${key}:${value}`;
    };
  flaky = app.task('paths.flaky', retryOnce('paths.flaky'));
  flakyDebounced = app.task('paths.flakyDebounced', retryOnce('paths.flakyDebounced'), {
    debounce: { delay: QUIET, key: (key) => key },
  });
  worker = new Worker(app, { concurrency: 4, logger: createLineLogger({ level: 'silent' }) });
  await worker.start();
});

afterAll(async () => {
  await worker?.stop({ timeout: 2 });
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The runs of `task` for `key` once the worker has had time for them (and any stray one). */
async function runsOf(task: string, key: string, atLeast = 1) {
  const deadline = Date.now() + 8000;
  const mine = () => runs.filter((r) => r.task === task && r.key === key);
  while (mine().length < atLeast && Date.now() < deadline) await sleep(25);
  await sleep(QUIET * 1000 + 400); // a second run, if the flow step let one through, shows by now
  return mine();
}

const uniq = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;

describe('every send path honours an idempotency key and a debounce', () => {
  it('task.applyAsync and task.delay', async () => {
    const key = uniq('apply');
    const a = await plain.applyAsync([key, 1], { idempotencyKey: key });
    const b = await plain.applyAsync([key, 2], { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);

    const user = uniq('delay');
    const d1 = await debounced.delay(user, 1);
    const d2 = await debounced.delay(user, 2);
    expect(d2.id).toBe(d1.id);
    expect(await d2.get({ timeout: 5 })).toBe(`${user}:2`);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('app.sendTask by name', async () => {
    const key = uniq('send');
    const a = await app.sendTask('paths.plain', [key, 1], { idempotencyKey: key });
    const b = await app.sendTask('paths.plain', [key, 2], { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    const user = uniq('send-deb');
    await app.sendTask('paths.debounced', [user, 1]);
    await app.sendTask('paths.debounced', [user, 2]);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('app.sendMany', async () => {
    const key = uniq('many');
    const user = uniq('many-deb');
    const other = uniq('many-plain');
    const sent = await app.sendMany([
      { task: plain, args: [key, 1], options: { idempotencyKey: key } },
      { task: 'paths.plain', args: [other, 7] },
      { task: plain, args: [key, 2], options: { idempotencyKey: key } },
      { task: debounced, args: [user, 1] },
    ]);
    await app.sendMany([{ task: 'paths.debounced', args: [user, 2] }]);
    expect(sent[2]!.id).toBe(sent[0]!.id);
    expect(sent).toHaveLength(4);
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    expect((await runsOf('paths.plain', other)).map((r) => r.value)).toEqual([7]);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('a signature', async () => {
    const key = uniq('sig');
    const a = await plain.s(key, 1).set({ idempotencyKey: key }).applyAsync([]);
    const b = await plain.s(key, 2).applyAsync([], { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    const user = uniq('sig-deb');
    const d1 = await debounced.s(user, 1).applyAsync([]);
    const d2 = await debounced.s(user, 2).applyAsync([]);
    // The caller follows the open window's task, not the id its own signature was frozen with.
    expect(d2.id).toBe(d1.id);
    expect(await d2.get({ timeout: 5 })).toBe(`${user}:2`);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('a chain: its later task, sent by the worker, too', async () => {
    const key = uniq('chain');
    const user = uniq('chain-deb');
    for (const value of [1, 2]) {
      await chain(
        plain.si(`${key}-first`, value),
        plain.si(key, value).set({ idempotencyKey: key }),
      ).applyAsync([]);
      // (A chain whose keyed task is replayed stops there, so the debounce has its own.)
      await chain(plain.si(`${user}-first`, value), debounced.si(user, value)).applyAsync([]);
      await sleep(50);
    }
    expect((await runsOf('paths.plain', `${key}-first`, 2)).map((r) => r.value)).toEqual([1, 2]);
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('a group', async () => {
    const key = uniq('group');
    const user = uniq('group-deb');
    await group(
      plain.si(key, 1).set({ idempotencyKey: key }),
      plain.si(key, 2).set({ idempotencyKey: key }),
      debounced.si(user, 1),
      debounced.si(user, 2),
    ).applyAsync([]);
    expect((await runsOf('paths.plain', key)).length).toBe(1);
    expect((await runsOf('paths.debounced', user)).length).toBe(1);
  });

  it('a chord: its header, and its body sent by the worker', async () => {
    const key = uniq('chord');
    const user = uniq('chord-deb');
    const body = uniq('chord-body');
    for (const value of [1, 2]) {
      await chord(
        [plain.si(`${key}-h`, value), plain.si(key, value).set({ idempotencyKey: key })],
        plain.si(body, value).set({ idempotencyKey: body }),
      ).applyAsync([]);
    }
    await chord(
      [debounced.si(user, 1), debounced.si(user, 2)],
      plain.si(`${user}-b`, 0),
    ).applyAsync([]);
    expect((await runsOf('paths.plain', `${key}-h`, 2)).length).toBe(2);
    // The second chord's keyed header member replays the first's, so that chord never joins;
    // the first chord's body runs once.
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    expect((await runsOf('paths.plain', body)).map((r) => r.value)).toEqual([1]);
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });

  it('beat', async () => {
    const key = uniq('beat');
    const user = uniq('beat-deb');
    const beatApp = new Celeriac({ broker: `sqlite://${path.join(dir, 'flow.db')}` });
    beatApp.task('paths.debounced', (k: string) => k, {
      debounce: { delay: QUIET, key: (k) => k },
    });
    beatApp.periodic(`${key}-entry`, {
      task: 'paths.plain',
      schedule: crontab('* * * * *'),
      args: [key, 1],
      options: { idempotencyKey: key },
    });
    beatApp.periodic(`${user}-entry`, {
      task: 'paths.debounced',
      schedule: crontab('* * * * *'),
      args: [user, 1],
    });
    let now = Date.UTC(2030, 0, 1, 0, 0, 30);
    const beat = new Beat(beatApp, {
      clock: () => now,
      logger: createLineLogger({ level: 'silent' }),
    });
    try {
      await beat.tick(); // leads; the entries start from now
      for (let minute = 1; minute <= 3; minute++) {
        now = Date.UTC(2030, 0, 1, 0, minute, 1);
        await beat.tick();
      }
      expect((await runsOf('paths.plain', key)).length).toBe(1);
      expect((await runsOf('paths.debounced', user)).length).toBe(1);
    } finally {
      await beat.stop();
      await beatApp.close();
    }
  });

  it("a worker's retry keeps the key's task and is not debounced again", async () => {
    const key = uniq('retry');
    const a = await flaky.applyAsync([key, 1], { idempotencyKey: key });
    expect(await a.get({ timeout: 5 })).toBe(`${key}:1`);
    const b = await flaky.applyAsync([key, 2], { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect((await runsOf('paths.flaky', key, 2)).map((r) => [r.value, r.attempt])).toEqual([
      [1, 0],
      [1, 1],
    ]);
    const user = uniq('retry-deb');
    await flakyDebounced.delay(user, 1);
    const d = await flakyDebounced.delay(user, 2);
    expect(await d.get({ timeout: 5 })).toBe(`${user}:2`);
    expect(
      (await runsOf('paths.flakyDebounced', user, 2)).map((r) => [r.value, r.attempt]),
    ).toEqual([
      [2, 0],
      [2, 1],
    ]);
  });

  it("a web app's sendAndRespond", async () => {
    const key = uniq('web');
    const first = await sendAndRespond(plain.applyAsync([key, 1], { idempotencyKey: key }));
    const again = await sendAndRespond(plain.applyAsync([key, 2], { idempotencyKey: key }));
    expect(first.status).toBe(202);
    expect(again.headers.get('Location')).toBe(first.headers.get('Location'));
    expect((await runsOf('paths.plain', key)).map((r) => r.value)).toEqual([1]);
    const user = uniq('web-deb');
    const d1 = await sendAndRespond(debounced.delay(user, 1));
    const d2 = await sendAndRespond(debounced.delay(user, 2));
    expect(d2.headers.get('Location')).toBe(d1.headers.get('Location'));
    expect((await runsOf('paths.debounced', user)).map((r) => r.value)).toEqual([2]);
  });
});
