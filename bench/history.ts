/**
 * `npm run bench -- history`: the cost of the app's `taskHistory` (each task's events
 * kept in the result backend for the dashboard's timeline). BENCH_TASKS no-op tasks
 * (10,000) are sent with sendMany by a client app and processed by one worker process at
 * concurrency 100, with the option off and on in interleaved rounds (BENCH_ROUNDS, 3), on
 * a SQLite file and on Redis (CELERIAC_BENCH_REDIS_URL) when reachable. Printed, as
 * medians: worker throughput, the worker's CPU time per task (its own process.cpuUsage
 * from first task to last: what survives a loaded machine), the client's CPU per sent
 * task (send plus its task-sent writes), and on Redis the server's time per task (INFO
 * commandstats, usec summed; exact only on a Redis no one else uses).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { deletePrefix, openBenchRedis } from './redis/admin.js';
import { Celeriac } from '../src/index.js';
import { envCount, fmt, median, nextLine, rate, row, spawnWorker, wallClock } from './support.js';

interface Run {
  rate: number;
  workerCpuUs: number;
  clientCpuUs: number;
  redisUs: number | undefined;
  events: number;
}

/** Total usec of every command Redis ran so far (INFO commandstats). */
async function redisUsec(admin: Redis | undefined): Promise<number> {
  if (!admin) return 0;
  const stats = String(await admin.info('commandstats'));
  let usec = 0;
  for (const match of stats.matchAll(/usec=(\d+)/g)) usec += Number(match[1]);
  return usec;
}

async function once(
  url: string,
  keyPrefix: string,
  taskHistory: boolean,
  tasks: number,
  admin: Redis | undefined,
): Promise<Run> {
  const client = new Celeriac({ broker: url, keyPrefix: keyPrefix || undefined, taskHistory });
  const noop = client.signature<[], null>('bench.noop');
  let sampleId = '';
  const cpu = process.cpuUsage();
  for (let i = 0; i < tasks; i += 1000) {
    const sent = await client.sendMany(
      Array.from({ length: Math.min(1000, tasks - i) }, () => ({ task: noop, args: [] })),
    );
    sampleId ||= sent[0]!.id;
  }
  await client.close(); // waits for its task-sent writes
  const clientCpu = process.cpuUsage(cpu);
  const before = await redisUsec(admin);
  const worker = await spawnWorker(
    'bench/bench-app.mjs',
    {
      CELERIAC_BROKER_URL: url,
      BENCH_COUNT: String(tasks),
      ...(keyPrefix ? { BENCH_PREFIX: keyPrefix } : {}),
      BENCH_TASK_HISTORY: taskHistory ? '1' : '0',
    },
    ['-c', '100'],
  );
  let done: string;
  try {
    let timer: NodeJS.Timeout | undefined;
    done = await Promise.race([
      nextLine(worker.lines, 'bench-done'),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no bench-done in 300 s')), 300_000);
      }),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await worker.stop();
  }
  const after = await redisUsec(admin);
  const [, ms, workerCpu] = done.split(' ');
  const reader = new Celeriac({ broker: url, keyPrefix: keyPrefix || undefined });
  const history = (await reader.resultBackend()).taskHistory?.();
  const events = history ? (await history.read(sampleId)).length : 0;
  await reader.close();
  return {
    rate: rate(tasks, Number(ms)),
    workerCpuUs: Number(workerCpu) / tasks,
    clientCpuUs: (clientCpu.user + clientCpu.system) / tasks,
    redisUs: admin ? (after - before) / tasks : undefined,
    events,
  };
}

async function compare(
  label: string,
  open: (round: number, on: boolean) => { url: string; keyPrefix: string },
  admin: Redis | undefined,
  after: (keyPrefix: string) => Promise<void>,
): Promise<void> {
  const tasks = envCount('BENCH_TASKS', 10_000);
  const rounds = envCount('BENCH_ROUNDS', 3);
  const runs: Record<'off' | 'on', Run[]> = { off: [], on: [] };
  for (let round = 0; round < rounds; round++) {
    // Interleaved, the order swapped each round, so drifting load weighs on both alike.
    for (const on of round % 2 ? [true, false] : [false, true]) {
      const { url, keyPrefix } = open(round, on);
      try {
        runs[on ? 'on' : 'off'].push(await once(url, keyPrefix, on, tasks, admin));
      } finally {
        await after(keyPrefix);
      }
    }
  }
  const med = (side: 'off' | 'on', key: 'rate' | 'workerCpuUs' | 'clientCpuUs' | 'redisUs') =>
    median(runs[side].map((run) => run[key] ?? 0));
  process.stdout.write(
    `\ntask history cost on ${label}: ${fmt(tasks)} no-op tasks, one worker c=100, medians of ${rounds} (load ${os.loadavg()[0]!.toFixed(1)})\n`,
  );
  const pair = (key: 'rate' | 'workerCpuUs' | 'clientCpuUs' | 'redisUs', unit: string) => {
    const off = med('off', key);
    const on = med('on', key);
    return [
      `${fmt(off)}${unit} / ${fmt(on)}${unit}`,
      off > 0 ? `on/off ${(on / off).toFixed(2)}x` : '',
    ];
  };
  row('processing, taskHistory off / on', ...(pair('rate', '/s') as [string, string]));
  row('worker CPU per task, off / on', ...(pair('workerCpuUs', ' µs') as [string, string]));
  row('client CPU per sent task, off / on', ...(pair('clientCpuUs', ' µs') as [string, string]));
  if (admin) row('Redis time per task, off / on', ...(pair('redisUs', ' µs') as [string, string]));
  row(
    'events kept for one task (on)',
    String(runs.on[0]?.events ?? 0),
    'sent, received, started, succeeded',
  );
}

export async function runHistoryBench(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'celeriac-bench-history-'));
  try {
    await compare(
      'SQLite',
      (round, on) => ({ url: `sqlite://${path.join(dir, `r${round}-${on}.db`)}`, keyPrefix: '' }),
      undefined,
      () => Promise.resolve(),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const url = process.env.CELERIAC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const admin = await openBenchRedis(url, 'task history on Redis');
  if (!admin) return;
  const started = wallClock();
  try {
    await compare(
      'Redis',
      () => ({ url, keyPrefix: `celeriac-bench-history:${randomUUID().slice(0, 8)}:` }),
      admin,
      (keyPrefix) => deletePrefix(admin, keyPrefix),
    );
  } finally {
    admin.disconnect();
  }
  process.stdout.write(`  (Redis rounds took ${fmt((wallClock() - started) / 1000)} s)\n`);
}
