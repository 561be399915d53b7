import { defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/support/slow-first-sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn worker processes; two cores do not gain from more files at once.
    maxWorkers: 3,
    sequence: { sequencer: SlowFirstSequencer },
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
