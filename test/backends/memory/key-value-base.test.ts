/**
 * What the key-value base derives beyond the conformance suite, on the memory store: the
 * worker registry's heartbeat expiry, and revocation answers given synchronously from the
 * mirror while `onRevoke` listens (including ids revoked before it started).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { createMemoryBackend } from '../../../src/backends/memory/index.js';
import type { WorkerInfo } from '../../../src/backends/worker-registry.js';
import { sleep, waitFor } from '../../../src/testing/index.js';

const open: Array<{ close(): Promise<void> }> = [];
async function backend() {
  const made = createMemoryBackend(`memory://kv-${randomUUID()}`, { keyPrefix: 'app1:' });
  await made.connect();
  open.push(made);
  return made;
}

afterEach(async () => {
  for (const made of open.splice(0)) await made.close();
});

const info = (hostname: string): WorkerInfo => ({
  hostname,
  pid: 1,
  queues: ['celery'],
  concurrency: 2,
  active: 0,
  startedAt: Date.now(),
  seenAt: Date.now(),
  version: 'test',
});

it('lists a worker while its heartbeat lasts, and drops it when it expires or leaves', async () => {
  const registry = (await backend()).workerRegistry();
  await registry.heartbeat(info('short@host'), 200);
  await registry.heartbeat(info('long@host'), 60_000);
  await registry.heartbeat(info('leaving@host'), 60_000);
  expect((await registry.online(Date.now())).map((w) => w.hostname)).toEqual([
    'leaving@host',
    'long@host',
    'short@host',
  ]);
  await registry.leave('leaving@host');
  await waitFor(
    'the short heartbeat to expire',
    async () => (await registry.online(Date.now())).length === 1,
  );
  expect((await registry.online(Date.now()))[0]?.hostname).toBe('long@host');
});

it('stores paused queues apart from the workers, until resumed', async () => {
  const registry = (await backend()).workerRegistry();
  await registry.heartbeat(info('w@host'), 60_000);
  await Promise.all([
    registry.setQueuePaused!('b', true),
    registry.setQueuePaused!('a', true),
    registry.setQueuePaused!('a', true),
  ]);
  expect(await registry.pausedQueues!()).toEqual(['a', 'b']);
  expect((await registry.online(Date.now())).map((w) => w.hostname)).toEqual(['w@host']);
  await registry.setQueuePaused!('a', false);
  expect(await registry.pausedQueues!()).toEqual(['b']);
});

it('answers isRevoked without a promise while listened to, ids revoked earlier included', async () => {
  const kv = await backend();
  await kv.revoke(['before']);
  expect(kv.isRevoked('before')).toBeInstanceOf(Promise);
  const stop = await kv.onRevoke(() => undefined);
  expect(kv.isRevoked('before')).toBe(true);
  expect(kv.isRevoked('never')).toBe(false);
  await kv.revoke(['short'], { expiresMs: 100 });
  expect(kv.isRevoked('short')).toBe(true);
  await sleep(150);
  expect(kv.isRevoked('short')).toBe(false);
  await stop();
  expect(await kv.isRevoked('before')).toBe(true);
});
