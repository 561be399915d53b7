/**
 * The result-backend conformance suite: every backend (SQLite, Redis, ...) must pass it.
 * A backend's test file calls `describeBackendConformance(name, make)`, where `make`
 * opens a fresh, isolated backend for one test (or returns `{ skip: reason }`).
 * Must never depend on one backend's behaviour beyond the `ResultBackend` contract.
 *
 * @example
 *   describeBackendConformance('sqlite', async ({ id }) => {
 *     const file = path.join(os.tmpdir(), `${id}.db`);
 *     const backend = createSqliteBackend(`sqlite://${file}`, {});
 *     await backend.connect();
 *     return { backend, cleanup: async () => { await backend.close(); rmSync(file) } };
 *   });
 */
import { describe } from 'vitest';
import type { BackendHarnessFactory } from './backend-conformance/harness.js';
import { storeTests } from './backend-conformance/store-tests.js';
import { sharedStateTests } from './backend-conformance/shared-state-tests.js';
import { chordTests } from './backend-conformance/chord-tests.js';
import { historyTests } from './backend-conformance/history-tests.js';

export type {
  BackendConformanceContext,
  BackendHarness,
  BackendHarnessFactory,
} from './backend-conformance/harness.js';
export { makeMeta, waitFor, sleep } from './backend-conformance/harness.js';

export function describeBackendConformance(name: string, make: BackendHarnessFactory): void {
  describe(`result backend conformance: ${name}`, () => {
    describe('store, get, forget, expire, subscribe', () => storeTests(make));
    describe('revocations', () => sharedStateTests(make));
    describe('chord joins and saved groups', () => chordTests(make));
    describe('task history', () => historyTests(make));
  });
}
