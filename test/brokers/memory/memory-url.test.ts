/**
 * memory:// through the registries as an app uses it: no peer to install, one store per
 * URL name in the process (two apps share `memory://x`, not `memory://y`), results default
 * to memory:// too, and a store is dropped with its last connection.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { Celeriac } from '../../../src/index.js';
import { createBroker } from '../../../src/brokers/registry.js';
import { createBackend } from '../../../src/backends/registry.js';
import { makeMessage } from '../../../src/testing/conformance.js';

const apps: Celeriac[] = [];
const app = (broker: string) => {
  const made = new Celeriac({ broker });
  apps.push(made);
  return made;
};

afterEach(async () => {
  for (const made of apps.splice(0)) await made.close();
});

it('two apps naming the same memory:// URL share queues and results; another name shares nothing', async () => {
  const name = `memory://url-${randomUUID()}`;
  const [sender, receiver, stranger] = [app(name), app(name), app(`${name}-other`)];
  await sender.sendTask('any.task', [1]);
  expect(await (await receiver.broker()).queueLength('celery')).toBe(1);
  expect(await (await stranger.broker()).queueLength('celery')).toBe(0);
  expect((await receiver.resultBackend()).kind).toBe('memory');
  await (
    await sender.resultBackend()
  ).store({
    status: 'SUCCESS',
    result: 7,
    traceback: null,
    children: [],
    date_done: new Date().toISOString(),
    task_id: 'shared-id',
  });
  expect((await receiver.resultBackend().then((b) => b.get('shared-id')))?.result).toBe(7);
  expect(await stranger.resultBackend().then((b) => b.get('shared-id'))).toBeUndefined();
});

it('drops a store when its last connection closes', async () => {
  const url = `memory://drop-${randomUUID()}`;
  const first = await createBroker(url);
  await first.connect();
  await first.publish(makeMessage('kept-while-open'), { queue: 'q' });
  const second = await createBroker(url);
  await second.connect();
  await first.close();
  expect(await second.queueLength('q')).toBe(1);
  await second.close();
  const third = await createBroker(url);
  await third.connect();
  expect(await third.queueLength('q')).toBe(0);
  await third.close();
});

it('opens memory:// for `memory:` and `memory://` alike with no client package', async () => {
  const backend = await createBackend('memory://');
  await backend.connect();
  expect(backend.kind).toBe('memory');
  await backend.close();
});
