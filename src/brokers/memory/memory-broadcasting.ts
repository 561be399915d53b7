/**
 * Remote control and events within one process, for the `memory://` broker: exchanges are
 * names in a per-store registry, bound queues are callbacks, and exchanges route AMQP's way
 * (exchange-routing.ts). Like the store, nothing leaves the process.
 */
import type {
  BroadcastListener,
  BroadcastQueueSpec,
  Broadcasting,
  ExchangeSpec,
} from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import { copyMessage } from './memory-store.js';
import { routes } from '../exchange-routing.js';

interface Binding {
  spec: BroadcastQueueSpec;
  onMessage: (message: TransportMessage) => void;
}

const registries = new Map<string, Set<Binding>>();

export class MemoryBroadcasting implements Broadcasting {
  constructor(private readonly storeName: string) {}

  private get bindings(): Set<Binding> {
    let set = registries.get(this.storeName);
    if (!set) {
      set = new Set();
      registries.set(this.storeName, set);
    }
    return set;
  }

  send(exchange: ExchangeSpec, routingKey: string, message: TransportMessage): Promise<void> {
    for (const binding of this.bindings) {
      if (binding.spec.exchange.name !== exchange.name) continue;
      if (!routes(exchange.type, binding.spec.bindingKey, routingKey)) continue;
      const copy = copyMessage(message);
      // Delivered on a later turn, as a broker would: never inside the sender's call.
      setImmediate(() => binding.onMessage(copy));
    }
    return Promise.resolve();
  }

  listen(
    spec: BroadcastQueueSpec,
    onMessage: (message: TransportMessage) => void,
  ): Promise<BroadcastListener> {
    const binding: Binding = { spec, onMessage };
    this.bindings.add(binding);
    return Promise.resolve({
      close: () => {
        this.bindings.delete(binding);
        return Promise.resolve();
      },
    });
  }
}
