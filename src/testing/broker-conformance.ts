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
import type { BrokerHarnessFactory } from './broker-conformance/harness.js';
import { basicTests } from './broker-conformance/basic-tests.js';
import { settleTests } from './broker-conformance/settle-tests.js';
import { scheduleTests } from './broker-conformance/schedule-tests.js';

export type {
  BrokerConformanceContext,
  BrokerHarness,
  BrokerHarnessFactory,
} from './broker-conformance/harness.js';
export {
  makeMessage,
  idOf,
  Inbox,
  consumeInto,
  waitFor,
  sleep,
} from './broker-conformance/harness.js';

export function describeBrokerConformance(name: string, make: BrokerHarnessFactory): void {
  describe(`broker conformance: ${name}`, () => {
    describe('publish, consume, purge, length', () => basicTests(make));
    describe('ack, reject, prefetch, redelivery', () => settleTests(make));
    describe('delayed delivery and priorities', () => scheduleTests(make));
  });
}
