/**
 * Real beat processes on one store, SQLite and PostgreSQL alike: three replicas send a per-second schedule once
 * per second; the leader killed with SIGKILL is replaced without a tick lost or doubled; a
 * schedule added from the CLI fires without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { killProcesses, runCli, type WorkerProcess } from '../support/worker-process.js';
import { requireService, services } from '../support/services.js';
import { testSchema } from '../support/postgres.js';

const APP = 'test/beat/fixtures/app.ts';
const RUN_SECONDS = Number(process.env.BEAT_TEST_SECONDS ?? 60);

type Store = 'sqlite' | 'postgres';

/** Each store the replicas share, and how long the steady-run test runs on it. */
const STORES = [
  { store: 'sqlite', seconds: RUN_SECONDS },
  // The steady run is SQLite's long test; on PostgreSQL a shorter one keeps the suite quick.
  { store: 'postgres', seconds: Math.min(RUN_SECONDS, 10) },
] as const;

/**
 * One store of its own (a SQLite file or a PostgreSQL schema), the beat processes started
 * on it and a client: the steady runs go on in theirs while the other tests use their own,
 * so each closes only what it opened.
 */
interface World {
  env: Record<string, string>;
  client: Celeriac;
  processes: WorkerProcess[];
  close: () => Promise<void>;
}

function openWorld(store: Store): World {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-beatp-'));
  const pg = store === 'postgres' ? testSchema('beat') : undefined;
  const url = pg?.url ?? `sqlite://${path.join(dir, 'beat.db')}`;
  const client = new Celeriac({ broker: url });
  const processes: WorkerProcess[] = [];
  return {
    env: { CELERIAC_BROKER_URL: url, BEAT_PER_SECOND: '1' },
    client,
    processes,
    async close() {
      await killProcesses(processes);
      await client.close();
      rmSync(dir, { recursive: true, force: true });
      await pg?.drop();
    },
  };
}

let world: World | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** The world of one test on `store`, closed after it; skips when the store's service is down. */
async function testWorld(ctx: TestContext, store: Store): Promise<World> {
  if (store === 'postgres') await requireService(ctx, 'postgres');
  world = openWorld(store);
  return world;
}

function runIn(w: World, args: string[], extra: Record<string, string> = {}): WorkerProcess {
  const run = runCli(['-A', APP, ...args], { ...w.env, ...extra });
  w.processes.push(run);
  return run;
}

async function startBeat(
  w: World,
  extra: Record<string, string> = {},
  flags: string[] = [],
): Promise<WorkerProcess> {
  const beat = runIn(w, ['beat', ...flags], extra);
  await beat.waitFor(/beat \S+ started/, 60_000);
  return beat;
}

async function stop(beat: WorkerProcess): Promise<void> {
  if (beat.child.exitCode !== null || beat.child.signalCode !== null) return;
  beat.child.kill('SIGTERM');
  await beat.exited;
}

/** Every slot sent to the test queue, in order. */
async function sentSlots(w: World): Promise<number[]> {
  const broker = await w.client.broker();
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

/** How many times a beat process's output says it sent `name`. */
const sends = (beat: WorkerProcess, name: string) =>
  beat.output().split(`Sent ${name} (`).length - 1;

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * The steady runs: three replicas on a store of their own for `seconds`, then stopped.
 * They are mostly idle (a tick a second), so they run from the start of the file alongside
 * the other tests, and their tests, last, assert on what they sent.
 */
interface SteadyRun {
  world: World;
  replicas: WorkerProcess[];
  /** Seconds from the three replicas started to their stop. */
  elapsed: number;
}
const steady = new Map<Store, Promise<SteadyRun>>();
const steadyWorlds: World[] = [];

/** Starts a steady run: resolves once its replicas are up, with the run's end. */
async function startSteadyRun(
  store: Store,
  seconds: number,
): Promise<{ done: Promise<SteadyRun> }> {
  const w = openWorld(store);
  steadyWorlds.push(w);
  const replicas = await Promise.all([startBeat(w), startBeat(w), startBeat(w)]);
  const startedAt = Date.now();
  const done = (async () => {
    await sleep(seconds * 1000);
    await Promise.all(replicas.map(stop));
    return { world: w, replicas, elapsed: (Date.now() - startedAt) / 1000 };
  })();
  return { done };
}

// The steady runs' replicas start before the other tests do, so that those tests' process
// starts (CPU-heavy: tsx and the app) do not crowd out their first election.
beforeAll(async () => {
  await Promise.all(
    STORES.map(async ({ store, seconds }) => {
      if (store === 'postgres' && (await services.postgres()) !== null) return;
      const started = startSteadyRun(store, seconds);
      const run = started.then((s) => s.done);
      run.catch(() => undefined); // its test reports the failure
      steady.set(store, run);
      await started.catch(() => undefined);
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(steadyWorlds.map((w) => w.close()));
});

describe.each(STORES)('beat processes on $store', ({ store }) => {
  it('replaces a leader killed with SIGKILL within the lease, losing and doubling no tick', async (ctx) => {
    const w = await testWorld(ctx, store);
    const replicas = await Promise.all(
      [1, 2, 3].map(() => startBeat(w, {}, ['run', '--lease', '2'])),
    );
    // A leader that has held its 2 s lease for a while (renewed it) and sent ticks with it.
    const sent = () => replicas.reduce((n, r) => n + sends(r, 'every-second'), 0);
    await until(() => sent() >= 4, 'four ticks before the kill');
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
    // Ticks sent by the successor, so the slots checked span the kill.
    const successor = others.find((r) => tokenOf(r) > held) as WorkerProcess;
    const before = sends(successor, 'every-second');
    await until(
      () => sends(successor, 'every-second') >= before + 4,
      'four ticks after the takeover',
    );
    await Promise.all(others.map(stop));
    const slots = await sentSlots(w);
    expectEverySecondOnce(slots);
    expect(slots.length).toBeGreaterThanOrEqual(8);
    expect(slots[0]).toBeLessThan(killedAt);
    expect(slots.at(-1)).toBeGreaterThan(killedAt + takeoverMs);
  }, 60_000);

  it('fires a schedule added from the CLI without a restart, and lists it with its next run', async (ctx) => {
    const w = await testWorld(ctx, store);
    const beat = await startBeat(w, { BEAT_PER_SECOND: '0' });
    const add = runIn(w, ['beat', 'add', 'poll', 'beat.tick', '--every', '1s', '-Q', 'beat-test'], {
      BEAT_PER_SECOND: '0',
    });
    expect(await add.exited).toBe(0);
    expect(add.output()).toMatch(/Added poll: beat\.tick on every 1s/);
    await beat.waitFor(/Sent poll \(beat\.tick\)/, 5000);
    // Three sends, the first two with a completed run before the listing.
    await until(() => sends(beat, 'poll') >= 3, 'three sends of poll');
    const list = runIn(w, ['beat', 'list'], { BEAT_PER_SECOND: '0' });
    expect(await list.exited).toBe(0);
    expect(list.output()).toMatch(
      /poll {2}task=beat\.tick {2}schedule=every 1s {2}next=\S+ {2}last=\S+ {2}runs=[1-9]/,
    );
    await stop(beat);
    const slots = await sentSlots(w);
    expect(slots.length).toBeGreaterThanOrEqual(3);
    expectEverySecondOnce(slots);
  }, 60_000);
});

// Last, so that the steady runs go on while the tests above run.
describe.each(STORES)('steady runs on $store', ({ store, seconds }) => {
  it(
    `three replicas send a per-second schedule exactly once per second for ${seconds} s`,
    async (ctx) => {
      const run = steady.get(store);
      if (!run) {
        await requireService(ctx, 'postgres');
        throw new Error(`no steady run was started on ${store}`);
      }
      const { world: w, replicas, elapsed } = await run;
      const slots = await sentSlots(w);
      expectEverySecondOnce(slots);
      expect(slots.length).toBeGreaterThanOrEqual(Math.floor(elapsed) - 2);
      expect(slots.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 2);
      const leaders = replicas.filter((r) => /leads \(token/.test(r.output()));
      expect(leaders, replicas.map((r) => r.output()).join('\n---\n')).toHaveLength(1);
    },
    (RUN_SECONDS + 120) * 1000,
  );
});
