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
  // Longest first, from a full CI=true run on the 2-core machine (seconds in that run).
  'test/interop/redis/celery-interop.test.ts', // 130
  'test/flow/workers-debounce-fairness.test.ts', // 125
  'test/worker/pools.test.ts', // 111
  'test/canvas/workflows.test.ts', // 95
  'test/package/tarball.test.ts', // 91
  'test/beat/beat-processes.test.ts', // 70
  'test/docs/snippets.test.ts', // 65
  'test/web/dashboard.browser.test.ts', // 62
  'test/worker/faults.test.ts', // 60
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
