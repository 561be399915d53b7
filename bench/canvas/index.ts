/**
 * `npm run bench -- canvas`: one chord of 10,000 header tasks (`bench.add`) and one body
 * (`bench.tsum`), Celeriac against Python Celery 5.2 (Debian's python3-celery) on one
 * private redis-server started for the run (its own port, killed after; never a shared
 * database flushed). Each side sends the chord with its own canvas API and waits for the
 * body's result, with one worker of its own: Celeriac's async pool, Celery's prefork pool.
 * Rounds alternate the sides; the best of each counts.
 *
 * Figures that survive a loaded machine: worker CPU time per header task (every process of
 * the worker summed, from /proc), Redis commands per header task (INFO commandstats of the
 * private server, reset before each run) and the worker's RSS growth over the chord. Wall
 * times are printed too, for what they are worth on a shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Celeriac, chord } from '../../src/index.js';
import { fmt, row, ROOT, workerCommand } from '../support.js';

const PYTHON = process.env.CELERIAC_BENCH_PYTHON ?? '/usr/bin/python3';
const HERE = path.join(ROOT, 'bench/canvas');

export interface ChordFigures {
  /** Seconds from the first send to the body's result. */
  wallSeconds: number;
  /** Seconds the client spent sending the chord. */
  sendSeconds: number;
  /** Worker CPU microseconds per header task (all the worker's processes). */
  workerCpuUsPerTask: number;
  /** Client CPU microseconds per header task. */
  clientCpuUsPerTask: number;
  /** Redis commands per header task, both processes together. */
  redisCallsPerTask: number;
  /** Worker RSS at the start of the chord and its peak growth during it, MiB. */
  rssStartMiB: number;
  rssGrowthMiB: number;
}

interface Side {
  name: string;
  start(url: string): Promise<void>;
  pids(): number[];
  run(parts: number): Promise<{ sendMs: number; totalMs: number; clientCpu: number }>;
  stop(): Promise<void>;
}

export async function runCanvasBench(
  options: { parts?: number; rounds?: number } = {},
): Promise<Record<string, ChordFigures> | undefined> {
  const parts = options.parts ?? Number(process.env.BENCH_CHORD_PARTS ?? 10_000);
  const rounds = options.rounds ?? Number(process.env.CELERIAC_BENCH_ROUNDS ?? 2);
  const missing = await pythonCeleryMissing();
  const server = await startRedis();
  if (!server) {
    process.stdout.write('\nCanvas: redis-server could not be started; skipped.\n');
    return undefined;
  }
  process.stdout.write(
    `\nCanvas: one chord of ${fmt(parts)} header tasks, private redis-server :${server.port}, ` +
      `best of ${rounds} alternating rounds\n`,
  );
  const sides: Side[] = [celeriacSide()];
  if (missing) process.stdout.write(`  Python Celery skipped: ${missing}\n`);
  else sides.push(pythonSide());
  const admin = new Redis(server.port, '127.0.0.1');
  const best: Record<string, ChordFigures> = {};
  /** Each side's worker RSS at the start of each round: flat when it does not climb. */
  const starts: Record<string, number[]> = {};
  try {
    for (const [i, side] of sides.entries())
      await side.start(`redis://127.0.0.1:${server.port}/${i}`);
    for (const side of sides) await side.run(100); // warm-up
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const figures = await measure(side, parts, admin);
        (starts[side.name] ??= []).push(figures.rssStartMiB);
        const prev = best[side.name];
        best[side.name] = prev ? bestOf(prev, figures) : figures;
      }
    }
  } finally {
    admin.disconnect();
    for (const side of sides) await side.stop().catch(() => undefined);
    server.stop();
  }
  print(best, parts);
  for (const [name, list] of Object.entries(starts))
    row(
      `${name} worker RSS at the start of each round`,
      list.map((v) => v.toFixed(0)).join(', ') + ' MiB',
    );
  return best;
}

async function measure(side: Side, parts: number, admin: Redis): Promise<ChordFigures> {
  await admin.config('RESETSTAT');
  const cpuBefore = cpuSeconds(side.pids());
  const rssStart = rssMiB(side.pids());
  let rssPeak = rssStart;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMiB(side.pids()));
  }, 200);
  let outcome;
  try {
    outcome = await side.run(parts);
  } finally {
    clearInterval(sampler);
  }
  const cpu = cpuSeconds(side.pids()) - cpuBefore;
  const stats = String(await admin.info('commandstats'));
  if (process.env.BENCH_CANVAS_COMMANDS) process.stdout.write(`${side.name}:\n${stats}\n`);
  const calls = commandCalls(stats);
  return {
    wallSeconds: outcome.totalMs / 1000,
    sendSeconds: outcome.sendMs / 1000,
    workerCpuUsPerTask: (cpu * 1e6) / parts,
    clientCpuUsPerTask: (outcome.clientCpu * 1e6) / parts,
    redisCallsPerTask: calls / parts,
    rssStartMiB: rssStart,
    rssGrowthMiB: rssPeak - rssStart,
  };
}

function bestOf(a: ChordFigures, b: ChordFigures): ChordFigures {
  const out = { ...a };
  for (const key of Object.keys(a) as (keyof ChordFigures)[]) out[key] = Math.min(a[key], b[key]);
  return out;
}

function print(best: Record<string, ChordFigures>, parts: number): void {
  const ours = best.celeriac;
  const theirs = best.celery;
  const line = (label: string, key: keyof ChordFigures, digits: number, unit: string) => {
    const value = (f: ChordFigures | undefined) => (f ? `${f[key].toFixed(digits)}${unit}` : '-');
    const ratio =
      ours && theirs && ours[key] > 0 ? `Celery / Celeriac ${fmt(theirs[key] / ours[key])}x` : '';
    row(label, `${value(ours)} | ${value(theirs)}`, ratio);
  };
  row(`${fmt(parts)}-part chord`, 'Celeriac | Celery 5.2');
  line('wall time to the body result (loaded machine: noisy)', 'wallSeconds', 2, ' s');
  line('client time sending the chord', 'sendSeconds', 2, ' s');
  line('worker CPU per header task', 'workerCpuUsPerTask', 0, ' us');
  line('client CPU per header task', 'clientCpuUsPerTask', 0, ' us');
  line('Redis commands per header task', 'redisCallsPerTask', 2, '');
  line('worker RSS growth during the chord', 'rssGrowthMiB', 1, ' MiB');
}

function celeriacSide(): Side {
  let worker: ChildProcess | undefined;
  let app: Celeriac | undefined;
  return {
    name: 'celeriac',
    async start(url) {
      const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
      worker = await spawnReady(
        process.execPath,
        workerCommand(path.join(HERE, 'canvas-app.mjs'), ['-c', '8']),
        env,
        /bench-ready/,
      );
      app = new Celeriac({ broker: url, backend: url });
    },
    pids: () => processTree(worker?.pid),
    async run(parts) {
      const add = app!.signature<[a: number, b: number], number>('bench.add');
      const tsum = app!.signature<[numbers: number[]], number>('bench.tsum');
      const cpu = process.cpuUsage();
      const started = performance.now();
      const header = Array.from({ length: parts }, (_, i) => add.s(i, i));
      const result = await chord(header, tsum.s()).delay();
      const sent = performance.now();
      const value = await result.get({ timeout: 900 });
      const done = performance.now();
      if (value !== parts * (parts - 1)) throw new Error(`the chord gave ${value}`);
      const used = process.cpuUsage(cpu);
      return {
        sendMs: sent - started,
        totalMs: done - started,
        clientCpu: (used.user + used.system) / 1e6,
      };
    },
    async stop() {
      await app?.close();
      await stopChild(worker);
    },
  };
}

function pythonSide(): Side {
  let worker: ChildProcess | undefined;
  let env: Record<string, string> = {};
  return {
    name: 'celery',
    async start(url) {
      env = { BENCH_REDIS_URL: url, PYTHONPATH: HERE, PYTHONDONTWRITEBYTECODE: '1' };
      worker = await spawnReady(
        PYTHON,
        ['-m', 'celery', '-A', 'pyapp', 'worker', '-P', 'prefork', '-c', '2', '-l', 'info'],
        env,
        /ready\./,
      );
    },
    pids: () => processTree(worker?.pid),
    async run(parts) {
      const client = spawn(PYTHON, [path.join(HERE, 'pyclient.py'), String(parts)], {
        cwd: HERE,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      client.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => client.once('exit', resolve));
      if (code !== 0) throw new Error(`pyclient.py exited with ${code}`);
      const lines = out.trim().split('\n');
      return JSON.parse(lines[lines.length - 1]!) as {
        sendMs: number;
        totalMs: number;
        clientCpu: number;
      };
    },
    stop: () => stopChild(worker),
  };
}

/** Spawns a process and resolves once its output matches `ready`. */
async function spawnReady(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<ChildProcess> {
  const child = spawn(command, args, {
    cwd: HERE,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready: ${text}`)), 60_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve();
      }
      if (text.length > 100_000) text = text.slice(-10_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}) before it was ready: ${text}`));
    });
  });
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

/** The pid and every descendant's. */
function processTree(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const children = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8');
      for (const child of children.trim().split(/\s+/)) if (child) out.push(Number(child));
    } catch {
      // gone
    }
  }
  return out;
}

/** User plus system CPU seconds of the processes (their own, not reaped children's). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ
}

function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kb += Number(match?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

function commandCalls(info: string): number {
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] === 'config' || match[1] === 'info') continue; // the benchmark's own
    calls += Number(match[2]);
  }
  return calls;
}

async function pythonCeleryMissing(): Promise<string | null> {
  const child = spawn(PYTHON, ['-c', 'import celery, redis; assert celery.VERSION[:2] == (5, 2)']);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
    child.once('error', () => resolve(-1));
  });
  return code === 0
    ? null
    : `${PYTHON} cannot import Celery 5.2 and redis (install python3-celery)`;
}

/** A redis-server of our own on a free port, with no persistence; stop() kills it. */
async function startRedis(): Promise<{ port: number; stop: () => void } | undefined> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const failed = new Promise<undefined>((resolve) => child.once('error', () => resolve(undefined)));
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined); // not up yet: asked again below
    const ok = await Promise.race([
      probe.connect().then(
        () => true,
        () => false,
      ),
      failed.then(() => false),
    ]);
    probe.disconnect();
    if (ok) return { port, stop: () => child.kill('SIGKILL') };
    if (child.exitCode !== null) return undefined;
    await sleep(50);
  }
  child.kill('SIGKILL');
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
