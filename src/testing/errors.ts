/**
 * The errors of the test helpers, each saying what to change in the test.
 */
import { CeleriacError } from '../errors.js';

export class DrainNeedsMemoryBrokerError extends CeleriacError {
  constructor(kind: string) {
    super(
      `drain() runs tasks on a memory:// broker, and this app's broker is "${kind}": create the app with ` +
        `\`broker: 'memory://'\` in tests (or set CELERIAC_BROKER_URL=memory:// before the app module loads).`,
    );
  }
}

export class DrainTimeoutError extends CeleriacError {
  constructor(
    readonly seconds: number,
    readonly left: {
      ready: number;
      unsettled: number;
      delayed: number;
      nextDeliverAt: number | undefined;
    },
  ) {
    const held =
      left.nextDeliverAt === undefined
        ? ''
        : ` (the next is due at ${new Date(left.nextDeliverAt).toISOString()})`;
    super(
      `drain() did not finish within ${seconds} s: ${left.ready} ready, ${left.unsettled} running, ` +
        `${left.delayed} held for later${held}. Raise \`timeout\`, or pass \`delayed: 'leave'\` to stop ` +
        `at messages sent with a countdown.`,
    );
  }
}
