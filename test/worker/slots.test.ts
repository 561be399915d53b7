/**
 * The worker's slot accounting, in process on a real SQLite file: messages it refuses
 * (unknown task) free their slot without counting as settling, so after any number of them
 * the worker still lets the broker fetch ahead while results are stored; and once all is
 * done nothing counts as running or settling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Worker } from '../../src/worker/worker.js';

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('worker slots', () => {
  it('frees the slot of a refused message without counting it as settling, however many there are', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-slots-'));
    const url = `sqlite://${path.join(dir, 'broker.db')}`;
    const app = new Celeriac({ broker: url, backend: url });
    let ran = 0;
    app.task('slots.run', () => ++ran);
    const worker = new Worker(app, { concurrency: 1, prefetchMultiplier: 1, logger: silent });
    cleanups.push(async () => {
      await worker.stop();
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    });
    // Ten unknown tasks (refused and dead-lettered), far more than the prefetch of 2.
    await app.sendMany(Array.from({ length: 10 }, () => ({ task: 'slots.unknown', args: [] })));
    const known = await app.sendMany(
      Array.from({ length: 20 }, () => ({ task: 'slots.run', args: [] })),
    );
    await worker.start();
    const values = await Promise.all(known.map((result) => result.get({ timeout: 20 })));
    expect(values.sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await expect.poll(() => worker.settlingCount).toBe(0);
    expect(worker.activeCount).toBe(0);
  });
});
