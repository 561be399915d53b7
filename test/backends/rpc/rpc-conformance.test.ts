/**
 * The shared result-backend conformance suite against the rpc:// backend on RabbitMQ.
 * Tests of what rpc:// does not do, by design and as in Celery, are skipped with the
 * reason: chords (no shared counter) and reading a result stored by another instance
 * (results go only to the caller's reply queue). Revocations across instances do run:
 * they travel as Celery's remote-control broadcast.
 */
import { describeBackendConformance } from '../../../src/testing/backend-conformance.js';
import { RpcBackend } from '../../../src/backends/rpc/index.js';
import { requireService, AMQP_URL } from '../../support/services.js';

describeBackendConformance('rpc (RabbitMQ)', async ({ test, id }) => {
  await requireService(test, 'rabbitmq');
  const name = test.task.name;
  if (/chord/i.test(name))
    return { skip: 'rpc:// has no chords (neither has Celery’s rpc backend): use Redis or SQLite' };
  if (/meta stored through another instance/.test(name)) {
    return {
      skip: 'rpc:// results reach only the caller that sent the task, never another instance (as in Celery)',
    };
  }
  const make = async () => {
    const backend = new RpcBackend('rpc://', {
      brokerUrl: AMQP_URL,
      connectionName: `celeriac-test rpc ${id}`,
    });
    await backend.connect();
    return backend;
  };
  const backend = await make();
  return { backend, openAnother: make, cleanup: () => backend.close() };
});
