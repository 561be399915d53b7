/**
 * Beat fencing on every store (SQLite, Redis, memory): a leader that loses its lease in the
 * middle of a tick (another replica took over with a higher token) cannot claim a run any
 * more, and no run is sent twice, neither by the deposed leader nor by the new one
 * recovering what the old one had claimed and was still sending. (That a store refuses a
 * stale token's claim outright is in the beat-store conformance suite: store-conformance.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Beat } from '../../src/beat/beat.js';
import { crontab } from '../../src/beat/schedules/index.js';
import type { BeatStore } from '../../src/backends/beat-store.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import { createLineLogger } from '../../src/logger.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

type StoreKind = 'sqlite' | 'redis' | 'memory';

const LEASE_SECONDS = 10;
const quiet = createLineLogger({ level: 'silent' });
let now: number;
let dir: string;
let prefix: string;
let memoryName: string;
const apps: Celeriac[] = [];
const beats: Beat[] = [];

function makeApp(kind: StoreKind): Celeriac {
  const broker =
    kind === 'sqlite'
      ? `sqlite://${path.join(dir, 'beat.db')}`
      : kind === 'redis'
        ? REDIS_URL
        : `memory://${memoryName}`;
  const app = new Celeriac({ broker, keyPrefix: prefix });
  for (const name of ['a', 'b']) {
    app.periodic(name, {
      task: `fenced.${name}`,
      schedule: crontab('* * * * *'),
      options: { queue: 'fenced' },
    });
  }
  apps.push(app);
  return app;
}

function makeBeat(app: Celeriac, id: string, store?: BeatStore): Beat {
  const beat = new Beat(app, {
    id,
    clock: () => now,
    leaseSeconds: LEASE_SECONDS,
    logger: quiet,
    ...(store ? { store } : {}),
  });
  beats.push(beat);
  return beat;
}

/** The app's own beat store with a hook run after each of its claims, before beat sees the answer. */
async function hookedStore(
  app: Celeriac,
  afterClaim: (name: string, claimed: boolean) => Promise<void>,
): Promise<BeatStore> {
  const backend = await app.resultBackend();
  const store = backend.beatStore!();
  return new Proxy(store, {
    get(target, property) {
      if (property === 'claimRun') {
        return async (...args: Parameters<BeatStore['claimRun']>) => {
          const claimed = await target.claimRun(...args);
          await afterClaim(args[0], claimed);
          return claimed;
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** Takes every message waiting in `queue`: the entry name, slot and task id of each. */
async function sent(
  app: Celeriac,
  queue: string,
): Promise<Array<{ name: unknown; slot: unknown; id: string }>> {
  const broker = await app.broker();
  const deliveries: Delivery[] = [];
  const consumer = await broker.consume({
    queues: [queue],
    prefetch: 1000,
    onDelivery: (d) => deliveries.push(d),
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await consumer.cancel();
  const found = [];
  for (const delivery of deliveries) {
    const decoded = decodeTaskMessage(delivery.message);
    found.push({
      name: decoded.headers.periodic_task_name,
      slot: decoded.headers.periodic_task_slot,
      id: decoded.id,
    });
    await delivery.ack();
  }
  return found;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-fence-'));
  prefix = `beat-fence-${randomUUID()}:`;
  memoryName = `beat-fence-${randomUUID()}`;
  now = Date.parse('2026-03-29T00:00:30Z');
});

afterEach(async () => {
  for (const beat of beats.splice(0)) await beat.stop().catch(() => undefined);
  for (const app of apps.splice(0)) await app.close();
  rmSync(dir, { recursive: true, force: true });
  await deleteRedisPrefix(prefix).catch(() => undefined);
});

describe.each(['sqlite', 'redis', 'memory'] as const)('beat fencing on %s', (kind) => {
  beforeEach(async (test) => {
    if (kind === 'redis') await requireService(test, 'redis');
  });

  it('a leader deposed mid-tick claims nothing more, and no run is sent twice', async () => {
    const appA = makeApp(kind);
    const appB = makeApp(kind);
    const claims: Array<[string, boolean]> = [];
    let takenOver = false;
    const follower = makeBeat(appB, 'B');
    const leader = makeBeat(
      appA,
      'A',
      await hookedStore(appA, async (name, claimed) => {
        claims.push([name, claimed]);
        if (takenOver) return;
        takenOver = true;
        // A has claimed "a" and not sent it yet: its lease runs out and B takes over and ticks.
        now += LEASE_SECONDS * 1000 + 1;
        await follower.tick();
        expect(follower.isLeader).toBe(true);
      }),
    );
    await leader.tick(); // A leads; nothing is due before 00:01
    expect(leader.isLeader).toBe(true);
    now = Date.parse('2026-03-29T00:01:00.500Z');
    await leader.tick();
    expect(claims).toEqual([
      ['a', true],
      ['b', false],
    ]);
    await leader.tick();
    expect(leader.isLeader).toBe(false);
    // B ticks again once A's claim would be recoverable if A had died: A sent it, so nothing more goes.
    now += LEASE_SECONDS * 1000 + 1;
    await follower.tick();
    const runs = await sent(appA, 'fenced');
    expect(runs.map((run) => `${String(run.name)} ${String(run.slot)}`).sort()).toEqual([
      'a 2026-03-29T00:01:00.000Z',
      'b 2026-03-29T00:01:00.000Z',
    ]);
    expect(new Set(runs.map((run) => run.id)).size).toBe(2);
  });

  it('a new leader still sends a run whose claimant died before sending it', async () => {
    const appA = makeApp(kind);
    const appB = makeApp(kind);
    const store = await makeBeat(appA, 'setup').open();
    const token = await store.lead('dead', LEASE_SECONDS * 1000, now);
    const slot = Date.parse('2026-03-29T00:01:00Z');
    now = slot + 500;
    expect(await store.claimRun('a', slot, 'dead', token!, 'orphan-run')).toBe(true);
    // "dead" never sends nor confirms. B takes over once the lease is gone.
    const follower = makeBeat(appB, 'B');
    for (let i = 0; i < 4; i++) {
      now += LEASE_SECONDS * 1000;
      await follower.tick();
    }
    const runs = await sent(appA, 'fenced');
    const orphan = runs.filter((run) => run.id === 'orphan-run');
    expect(orphan).toHaveLength(1);
    expect(orphan[0]?.slot).toBe('2026-03-29T00:01:00.000Z');
    expect((await store.get('a'))?.pendingTaskId).toBeNull();
  });
});
