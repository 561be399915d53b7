/**
 * The SQLite beat store records the task id of each claimed run (scheduled or run-now) as
 * `lastTaskId`, for `celeriac beat list`; a file made before that column existed gets it
 * when the store opens, keeping its entries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { SqliteBeatStore } from '../../../src/backends/sqlite/beat-store.js';
import { parseSqliteUrl } from '../../../src/connections/sqlite/sqlite-url.js';
import type { EntryDefinition } from '../../../src/backends/beat-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const definition: EntryDefinition = {
  name: 'nightly',
  task: 'reports.nightly',
  schedule: { kind: 'interval', everyMs: 60_000 },
  args: [],
  kwargs: {},
  options: {},
  missedRunPolicy: 'skip',
  enabled: true,
  source: 'store',
};

it('adds last_task_id to an older file and records each claimed run in it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-beat-last-'));
  dirs.push(dir);
  const file = path.join(dir, 'old.db');
  // The entries table as the first layout made it, with one entry in it.
  const old = new Database(file);
  old.exec(`CREATE TABLE beat_entries (name TEXT PRIMARY KEY, definition TEXT NOT NULL, enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL, last_run_at INTEGER, total_runs INTEGER NOT NULL DEFAULT 0, run_now_at INTEGER,
    pending_task_id TEXT, pending_slot INTEGER)`);
  const { name, enabled, ...rest } = definition;
  old
    .prepare('INSERT INTO beat_entries (name, definition, enabled, created_at) VALUES (?, ?, ?, ?)')
    .run(name, JSON.stringify(rest), enabled ? 1 : 0, 1000);
  old.close();

  const store = new SqliteBeatStore(parseSqliteUrl(`sqlite://${file}`), '');
  await store.open();
  try {
    expect((await store.get('nightly'))?.lastTaskId).toBeNull();
    const token = await store.lead('beat-1', 10_000, Date.now());
    expect(token).not.toBeNull();
    expect(await store.claimRun('nightly', 60_000, 'beat-1', token ?? 0, 'scheduled-run')).toBe(
      true,
    );
    await store.confirmRun('nightly', 'scheduled-run', 'beat-1', token ?? 0);
    expect((await store.get('nightly'))?.lastTaskId).toBe('scheduled-run');
    await store.requestRunNow('nightly', Date.now());
    expect(await store.claimRun('nightly', null, 'beat-1', token ?? 0, 'run-now-run')).toBe(true);
    const entry = await store.get('nightly');
    expect(entry?.lastTaskId).toBe('run-now-run');
    expect(entry?.pendingTaskId).toBe('run-now-run');
    expect(entry?.totalRuns).toBe(2);
  } finally {
    await store.close();
  }
  // Opening again finds the column there and leaves it.
  const again = new SqliteBeatStore(parseSqliteUrl(`sqlite://${file}`), '');
  await again.open();
  expect((await again.get('nightly'))?.lastTaskId).toBe('run-now-run');
  await again.close();
});
