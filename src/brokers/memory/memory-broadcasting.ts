/**
 * Remote control and events within one process, for the `memory://` broker: exchanges are
 * names in a per-store registry, bound queues are callbacks, and a topic exchange matches
 * AMQP's way (`*` one word, `#` zero or more). Like the store, nothing leaves the process.
 */
import type {
  BroadcastListener,
  BroadcastQueueSpec,
  Broadcasting,
  ExchangeSpec,
} from '../broker.js';
import type { TransportMessage } from '../../protocol/types.js';
import { copyMessage } from './memory-store.js';

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

function routes(type: ExchangeSpec['type'], bindingKey: string, routingKey: string): boolean {
  if (type === 'fanout') return true;
  if (type === 'direct') return bindingKey === routingKey;
  return topicMatches(bindingKey.split('.'), routingKey.split('.'));
}

/** AMQP topic matching: `*` is exactly one word, `#` zero or more. */
export function topicMatches(pattern: readonly string[], words: readonly string[]): boolean {
  if (pattern.length === 0) return words.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') {
    for (let skip = 0; skip <= words.length; skip++)
      if (topicMatches(rest, words.slice(skip))) return true;
    return false;
  }
  if (words.length === 0) return false;
  return (head === '*' || head === words[0]) && topicMatches(rest, words.slice(1));
}
