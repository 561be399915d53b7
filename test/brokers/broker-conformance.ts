/**
 * The broker conformance suite: every broker (SQLite, Redis, AMQP, ...) must pass it.
 * A broker's test file calls `describeBrokerConformance(name, make)`, where `make` opens a
 * fresh, isolated broker for one test (or returns `{ skip: reason }`). Tests a broker cannot
 * run (no native delay, no way to store a malformed message) skip with the reason.
 * Must never depend on one broker's behaviour beyond the `Broker` contract.
 *
 * @example
 *   describeBrokerConformance('sqlite', async ({ id }) => {
 *     const file = path.join(os.tmpdir(), `${id}.db`);
 *     const broker = createSqliteBroker(`sqlite://${file}`, {});
 *     await broker.connect();
 *     return { broker, queue: (s) => `${id}-${s}`, cleanup: async () => { await broker.close(); rmSync(file) } };
 *   });
 */
import { describe } from 'vitest';
import type { BrokerHarnessFactory } from './conformance/harness.js';
import { basicTests } from './conformance/basic-tests.js';
import { settleTests } from './conformance/settle-tests.js';
import { scheduleTests } from './conformance/schedule-tests.js';

export type {
  BrokerConformanceContext,
  BrokerHarness,
  BrokerHarnessFactory,
} from './conformance/harness.js';
export { makeMessage, Inbox, waitFor, sleep } from './conformance/harness.js';

export function describeBrokerConformance(name: string, make: BrokerHarnessFactory): void {
  describe(`broker conformance: ${name}`, () => {
    describe('publish, consume, purge, length', () => basicTests(make));
    describe('ack, reject, prefetch, redelivery', () => settleTests(make));
    describe('delayed delivery and priorities', () => scheduleTests(make));
  });
}
