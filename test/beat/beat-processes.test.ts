/**
 * Real beat processes on one store, SQLite and PostgreSQL alike: three replicas send a per-second schedule once
 * per second; the leader killed with SIGKILL is replaced without a tick lost or doubled; a
 * schedule added from the CLI fires without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { killAll, runCli, type WorkerProcess } from '../support/worker-process.js';
import { requireService } from '../support/services.js';
import { testSchema, type TestSchema } from '../support/postgres.js';

const APP = 'test/beat/fixtures/app.ts';
const RUN_SECONDS = Number(process.env.BEAT_TEST_SECONDS ?? 60);

let dir: string;
let env: Record<string, string>;
let client: Celeriac;
let pg: TestSchema | undefined;

/** Each store the replicas share, and how long the steady-run test runs on it. */
const STORES = [
  { store: 'sqlite', seconds: RUN_SECONDS },
  // The steady run is SQLite's long test; on PostgreSQL a shorter one keeps the suite quick.
  { store: 'postgres', seconds: Math.min(RUN_SECONDS, 10) },
] as const;

afterEach(async () => {
  await killAll();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  await pg?.drop();
  pg = undefined;
});

async function startBeat(
  extra: Record<string, string> = {},
  flags: string[] = [],
): Promise<WorkerProcess> {
  const beat = runCli(['-A', APP, 'beat', ...flags], { ...env, ...extra });
  await beat.waitFor(/beat \S+ started/);
  return beat;
}

async function stop(beat: WorkerProcess): Promise<void> {
  if (beat.child.exitCode !== null || beat.child.signalCode !== null) return;
  beat.child.kill('SIGTERM');
  await beat.exited;
}

/** Every slot sent to the test queue, in order. */
async function sentSlots(): Promise<number[]> {
  const broker = await client.broker();
  const deliveries: Delivery[] = [];
  const consumer = await broker.consume({
    queues: ['beat-test'],
    prefetch: 10_000,
    onDelivery: (d) => deliveries.push(d),
  });
  let seen = -1;
  while (seen !== deliveries.length) {
    seen = deliveries.length;
    await sleep(300);
  }
  await consumer.cancel();
  const slots = deliveries.map((d) =>
    Date.parse(decodeTaskMessage(d.message).headers.periodic_task_slot as string),
  );
  await Promise.all(deliveries.map((d) => d.ack()));
  return slots.sort((a, b) => a - b);
}

function expectEverySecondOnce(slots: number[]): void {
  expect(new Set(slots).size).toBe(slots.length); // nothing sent twice
  for (let i = 1; i < slots.length; i++)
    expect((slots[i] as number) - (slots[i - 1] as number)).toBe(1000); // nothing lost
}

describe.each(STORES)('beat processes on $store', ({ store, seconds: RUN_SECONDS }) => {
  beforeEach(async (ctx) => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-beatp-'));
    let url = `sqlite://${path.join(dir, 'beat.db')}`;
    if (store === 'postgres') {
      await requireService(ctx, 'postgres');
      pg = testSchema('beat');
      url = pg.url;
    }
    env = { CELERIAC_BROKER_URL: url, BEAT_PER_SECOND: '1' };
    client = new Celeriac({ broker: url });
  });

  it(
    `three replicas send a per-second schedule exactly once per second for ${RUN_SECONDS} s`,
    async () => {
      const replicas = await Promise.all([startBeat(), startBeat(), startBeat()]);
      const startedAt = Date.now();
      await sleep(RUN_SECONDS * 1000);
      await Promise.all(replicas.map(stop));
      const elapsed = (Date.now() - startedAt) / 1000;
      const slots = await sentSlots();
      expectEverySecondOnce(slots);
      expect(slots.length).toBeGreaterThanOrEqual(Math.floor(elapsed) - 2);
      expect(slots.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 2);
      const leaders = replicas.filter((r) => /leads \(token/.test(r.output()));
      expect(leaders).toHaveLength(1);
    },
    (RUN_SECONDS + 60) * 1000,
  );

  it('replaces a leader killed with SIGKILL within the lease, losing and doubling no tick', async () => {
    const replicas = await Promise.all([1, 2, 3].map(() => startBeat({}, ['run', '--lease', '2'])));
    await sleep(4000);
    // The leader now is the one holding the newest token: on a loaded machine a lease can
    // change hands before the kill, so the successor's token is the next one, whatever it is.
    const tokenOf = (r: WorkerProcess) =>
      Math.max(0, ...[...r.output().matchAll(/leads \(token (\d+)\)/g)].map((m) => Number(m[1])));
    const held = Math.max(...replicas.map(tokenOf));
    const leader = replicas.find((r) => held > 0 && tokenOf(r) === held);
    expect(leader).toBeDefined();
    leader?.child.kill('SIGKILL');
    const killedAt = Date.now();
    const others = replicas.filter((r) => r !== leader);
    // Replicas that race for the expired lease each draw a token before one wins the
    // compare-and-set, so the successor's token is newer than the held one, not always next.
    while (!others.some((r) => tokenOf(r) > held)) {
      if (Date.now() - killedAt > 10_000) throw new Error('no replica took the lease over in 10 s');
      await sleep(50);
    }
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(2000 + 1500);
    await sleep(3000);
    await Promise.all(others.map(stop));
    const slots = await sentSlots();
    expectEverySecondOnce(slots);
    expect(slots.length).toBeGreaterThanOrEqual(8);
  }, 40_000);

  it('fires a schedule added from the CLI without a restart, and lists it with its next run', async () => {
    const beat = await startBeat({ BEAT_PER_SECOND: '0' });
    const add = runCli(
      ['-A', APP, 'beat', 'add', 'poll', 'beat.tick', '--every', '1s', '-Q', 'beat-test'],
      {
        ...env,
        BEAT_PER_SECOND: '0',
      },
    );
    expect(await add.exited).toBe(0);
    expect(add.output()).toMatch(/Added poll: beat\.tick on every 1s/);
    await beat.waitFor(/Sent poll \(beat\.tick\)/, 5000);
    await sleep(2500);
    const list = runCli(['-A', APP, 'beat', 'list'], { ...env, BEAT_PER_SECOND: '0' });
    expect(await list.exited).toBe(0);
    expect(list.output()).toMatch(
      /poll {2}task=beat\.tick {2}schedule=every 1s {2}next=\S+ {2}last=\S+ {2}runs=[1-9]/,
    );
    await stop(beat);
    const slots = await sentSlots();
    expect(slots.length).toBeGreaterThanOrEqual(3);
    expectEverySecondOnce(slots);
  }, 30_000);
});
