/**
 * Runs the result-backend conformance suite against the memory:// backend (the key-value
 * base over an in-process store), each test on its own named store.
 */
import { describeBackendConformance } from '../../../src/testing/conformance.js';
import { createMemoryBackend } from '../../../src/backends/memory/index.js';

describeBackendConformance('memory', async ({ id }) => {
  const open = async () => {
    const backend = createMemoryBackend(`memory://${id}`);
    await backend.connect();
    return backend;
  };
  const backend = await open();
  return { backend, openAnother: open, cleanup: () => backend.close() };
});
