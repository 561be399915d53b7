/**
 * Gives a web test a real app on a fresh SQLite file in a temp dir, and writes task states
 * into its result backend as a worker would. Closed and deleted when the test ends.
 * Test support only; it must never be imported by src/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import type { ResultBackend } from '../../src/backends/backend.js';
import type { JsonValue, TaskState } from '../../src/protocol/types.js';
import { buildResultMeta } from '../../src/protocol/result-meta.js';

export interface SqliteApp {
  app: Celeriac;
  backend: ResultBackend;
  /** Stores a state for the task, as the worker would. */
  store: (
    taskId: string,
    state: TaskState,
    result?: JsonValue,
    traceback?: string | null,
  ) => Promise<void>;
}

export async function openSqliteApp(
  test: TestContext,
  options: { resultExtended?: boolean } = {},
): Promise<SqliteApp> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-web-'));
  const app = new Celeriac({ broker: `sqlite://${path.join(dir, 'test.db')}`, ...options });
  test.onTestFinished(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  const backend = await app.resultBackend();
  return {
    app,
    backend,
    store: (taskId, state, result = null, traceback = null) =>
      backend.store(buildResultMeta({ taskId, status: state, result, traceback })),
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
