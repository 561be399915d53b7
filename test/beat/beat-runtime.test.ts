/**
 * Beat's tick logic against each real store (SQLite, Redis, memory) and its broker, driven by an
 * injected clock: one send per slot across replicas, stored entries, run-now, disable,
 * missed-run policies and leader takeover.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { Beat } from '../../src/beat/beat.js';
import { crontab, every } from '../../src/beat/schedules/index.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { createLineLogger } from '../../src/logger.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';

let dir: string;
let now: number;
let store: 'sqlite' | 'redis' | 'memory';
let prefix: string;
const apps: Celeriac[] = [];
const beats: Beat[] = [];
const clock = () => now;
const quiet = createLineLogger({ level: 'silent' });

function makeApp(declare?: (app: Celeriac) => void): Celeriac {
  const broker =
    store === 'sqlite'
      ? `sqlite://${path.join(dir, 'beat.db')}`
      : store === 'redis'
        ? REDIS_URL
        : `memory://${prefix}`;
  const app = new Celeriac({ broker, keyPrefix: prefix });
  declare?.(app);
  apps.push(app);
  return app;
}

function makeBeat(app: Celeriac, id: string, leaseSeconds = 10): Beat {
  const beat = new Beat(app, { id, clock, leaseSeconds, logger: quiet });
  beats.push(beat);
  return beat;
}

/** Takes every message waiting in `queue` and returns their headers. */
async function drain(app: Celeriac, queue: string): Promise<Array<Record<string, unknown>>> {
  const broker = await app.broker();
  const found: Array<Record<string, unknown>> = [];
  const deliveries: Delivery[] = [];
  const consumer = await broker.consume({
    queues: [queue],
    prefetch: 1000,
    onDelivery: (delivery) => deliveries.push(delivery),
  });
  const deadline = Date.now() + 300;
  while (Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await consumer.cancel();
  for (const delivery of deliveries) {
    found.push(decodeTaskMessage(delivery.message).headers);
    await delivery.ack();
  }
  return found;
}

const minuteTicks = (app: Celeriac) =>
  app.periodic('report', {
    task: 'reports.send',
    schedule: crontab('* * * * *'),
    args: ['daily'],
    options: { queue: 'reports' },
  });

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-beat-'));
  now = Date.parse('2026-03-29T00:00:30Z');
  prefix = `beat-test-${randomUUID()}:`;
});

afterEach(async () => {
  for (const beat of beats.splice(0)) await beat.stop().catch(() => undefined);
  for (const app of apps.splice(0)) await app.close();
  rmSync(dir, { recursive: true, force: true });
  if (store === 'redis') await deleteRedisPrefix(prefix);
});

async function useStore(test: TestContext, kind: 'sqlite' | 'redis' | 'memory'): Promise<void> {
  store = kind;
  if (kind === 'redis') await requireService(test, 'redis');
}

describe.each(['sqlite', 'redis', 'memory'] as const)('beat ticks on %s', (kind) => {
  beforeEach(async (test) => useStore(test, kind));

  it('sends each slot once while three replicas tick together', async () => {
    const replicas = [1, 2, 3].map((i) => makeBeat(makeApp(minuteTicks), `r${i}`));
    for (const beat of replicas) await beat.open(); // entries created at 00:00:30
    for (let minute = 0; minute < 10; minute++) {
      now += 60_000;
      for (const beat of replicas) await beat.tick();
    }
    expect(replicas.filter((b) => b.isLeader)).toHaveLength(1);
    const sent = await drain(apps[0] as Celeriac, 'reports');
    const slots = sent.map((h) => h.periodic_task_slot);
    expect(slots).toHaveLength(10);
    expect(new Set(slots).size).toBe(10);
    expect(slots[0]).toBe('2026-03-29T00:01:00.000Z');
    expect(sent.every((h) => h.task === 'reports.send' && h.periodic_task_name === 'report')).toBe(
      true,
    );
  });

  it('returns the time until the next slot so the loop wakes on time', async () => {
    const beat = makeBeat(makeApp(minuteTicks), 'solo');
    now = Date.parse('2026-03-29T00:00:59.600Z');
    const wait = await beat.tick();
    expect(wait).toBe(400);
  });

  it('picks up an entry stored while it runs, and stops after it is disabled', async () => {
    const app = makeApp();
    const beat = makeBeat(app, 'solo');
    const store = await beat.open();
    await beat.tick();
    now += 1; // created just after a slot: the first run is the next slot
    await store.upsert(
      {
        name: 'poll',
        task: 'feeds.poll',
        schedule: every('10s').toJSON(),
        args: [],
        kwargs: {},
        options: { queue: 'feeds' },
        missedRunPolicy: 'skip',
        enabled: true,
        source: 'store',
      },
      now,
    );
    for (let i = 0; i < 6; i++) {
      now += 5_000;
      await beat.tick();
    }
    expect((await store.get('poll'))?.totalRuns).toBe(3);
    await store.setEnabled('poll', false, now);
    now += 60_000;
    await beat.tick();
    expect((await store.get('poll'))?.totalRuns).toBe(3);
    expect(await drain(app, 'feeds')).toHaveLength(3);
  });

  it('sends a run-now request once, through the leader', async () => {
    const app = makeApp(minuteTicks);
    const leader = makeBeat(app, 'a');
    const follower = makeBeat(makeApp(minuteTicks), 'b');
    await leader.tick();
    const store = await follower.open();
    expect(await store.requestRunNow('report', now)).toBe(true);
    await follower.tick();
    await leader.tick();
    await leader.tick();
    const sent = await drain(app, 'reports');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.periodic_task_slot).toBeUndefined();
  });

  it('hands over to another replica after the leader dies, sending each missed slot once', async () => {
    const secondly = (app: Celeriac) =>
      app.periodic('tick', {
        task: 'beat.tick',
        schedule: crontab('* * * * * *'),
        options: { queue: 'ticks' },
      });
    const first = makeBeat(makeApp(secondly), 'first', 3);
    const second = makeBeat(makeApp(secondly), 'second', 3);
    for (let i = 0; i < 5; i++) {
      now += 1000;
      await first.tick();
      await second.tick();
    }
    expect(first.isLeader).toBe(true);
    // `first` dies here without resigning: only `second` ticks from now on.
    for (let i = 0; i < 8; i++) {
      now += 1000;
      await second.tick();
    }
    expect(second.isLeader).toBe(true);
    const slots = (await drain(apps[0] as Celeriac, 'ticks')).map((h) =>
      Date.parse(String(h.periodic_task_slot)),
    );
    slots.sort((a, b) => a - b);
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots).toHaveLength(13);
    for (let i = 1; i < slots.length; i++)
      expect((slots[i] as number) - (slots[i - 1] as number)).toBe(1000);
  });

  it('after long downtime sends one catch-up run, or none when the policy is skip', async () => {
    const app = makeApp((a) => {
      a.periodic('catch', {
        task: 't.catch',
        schedule: crontab('0 * * * *'),
        options: { queue: 'hourly' },
      });
      a.periodic('skip', {
        task: 't.skip',
        schedule: crontab('0 * * * *'),
        options: { queue: 'hourly' },
        missedRunPolicy: 'skip',
      });
    });
    const beat = makeBeat(app, 'solo');
    now = Date.parse('2026-03-29T00:59:00Z');
    await beat.open();
    now = Date.parse('2026-03-29T01:00:10Z');
    await beat.tick();
    now = Date.parse('2026-03-29T07:30:00Z'); // six hourly slots missed
    await beat.tick();
    const names = (await drain(app, 'hourly')).map((h) => h.task);
    expect(names.filter((n) => n === 't.catch')).toHaveLength(2); // 01:00 on time, one catch-up
    expect(names.filter((n) => n === 't.skip')).toHaveLength(1); // 01:00 only
  });
});
