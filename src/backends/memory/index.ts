/**
 * The `memory://` result backend: the key-value backend base over a store in this
 * process's memory, for tests and examples. `memory://` and `memory://other` are two
 * stores; every backend naming the same one shares it (two apps in one process can).
 */
import { KeyValueBackend } from '../key-value/key-value-backend.js';
import type { BackendFactoryOptions } from '../registry.js';
import { memoryStoreName } from '../../url.js';
import { MemoryKeyValueStore } from './memory-key-value-store.js';

export { MemoryKeyValueStore } from './memory-key-value-store.js';

export function createMemoryBackend(
  url: string,
  options: BackendFactoryOptions = {},
): KeyValueBackend {
  return new KeyValueBackend('memory', new MemoryKeyValueStore(memoryStoreName(url)), options);
}
