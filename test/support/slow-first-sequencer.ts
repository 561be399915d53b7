/**
 * Starts the longest test files first. Vitest orders files by their last duration when it
 * has one cached, else by size, larger first; on a fresh checkout (CI) size put the
 * two-minute files in the middle of the run, and one started late made the run's tail: the
 * other workers sat idle waiting for it. These go first, in this order; the rest keep
 * Vitest's order. Durations from a full run (`npx vitest run --reporter=json`); a file that
 * grows past a minute belongs here.
 */
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOWEST = [
  'test/package/tarball.test.ts',
  'test/worker/pools.test.ts',
  'test/beat/beat-processes.test.ts',
  'test/canvas/workflows.test.ts',
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const at = SLOWEST.indexOf(
        path.relative(file.project.config.root, file.moduleId).split(path.sep).join('/'),
      );
      return at === -1 ? SLOWEST.length : at;
    };
    // Array.prototype.sort is stable: the others keep the base order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
