/**
 * Temporary SQLite files for tests: a unique path under os.tmpdir() and its removal with
 * the `-wal` and `-shm` companions. Must never touch a file it did not name.
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

export function tempDbPath(label = 'test'): string {
  return path.join(os.tmpdir(), `celeriac-${label}-${randomUUID().slice(0, 8)}.db`);
}

export function removeDb(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal'])
    rmSync(`${file}${suffix}`, { force: true });
}
