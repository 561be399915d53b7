/**
 * The `memory://` broker's entry, loaded lazily by the broker registry. `memory://` and
 * `memory://other` are two stores; every broker naming the same one shares its queues.
 */
import type { BrokerFactoryOptions } from '../registry.js';
import { memoryStoreName } from '../../url.js';
import { MemoryBroker } from './memory-broker.js';

export { MemoryBroker } from './memory-broker.js';
export type { DeadLetter } from './memory-store.js';

/**
 * A `keyPrefix` makes its own store (brokers with different prefixes share nothing).
 * `leaseMs` does not apply: a closed connection gives its deliveries back at once.
 */
export function createMemoryBroker(url: string, options: BrokerFactoryOptions = {}): MemoryBroker {
  const name = memoryStoreName(url);
  return new MemoryBroker(options.keyPrefix ? `${name}#${options.keyPrefix}` : name);
}
