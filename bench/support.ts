/**
 * Shared bench helpers: high-resolution wall clock comparable across processes,
 * percentiles, rate formatting, and spawning a worker process that reports completion.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Milliseconds since the epoch with sub-millisecond resolution, comparable between processes. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/** The middle value (the upper middle of an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** A positive integer from the environment, or the fallback when unset or not a number. */
export function envCount(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? Math.round(value) : fallback;
}

/** Heavy parts of `npm run bench` (1M queued tasks, concurrency 1 and 10) run with BENCH_FULL=1. */
export const FULL = process.env.BENCH_FULL === '1' || process.env.BENCH_SCALE === 'full';

/**
 * How a ratio stands against its goal, e.g. `2.30x BullMQ (goal >= 3x): short`, or with
 * `percent`, `72% of raw (goal >= 70%): met`. `atMost` goals are met at or below the goal.
 */
export function against(
  value: number,
  goal: number,
  what: string,
  options: { atMost?: boolean; percent?: boolean } = {},
): string {
  const met = options.atMost ? value <= goal : value >= goal;
  const show = (n: number, digits: number) =>
    options.percent ? `${Math.round(n * 100)}%` : `${n.toFixed(digits)}x`;
  const sign = options.atMost ? '<=' : '>=';
  return `${show(value, 2)} ${what} (goal ${sign} ${show(goal, 0)}): ${met ? 'met' : 'short'}`;
}

export function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function row(label: string, value: string, note = ''): void {
  process.stdout.write(`  ${label.padEnd(52)} ${value.padStart(14)}  ${note}\n`);
}

/** The command line of `celeriac worker` from the build (bench/worker-cli.mjs) on a bench app. */
export function workerCommand(appModule: string, flags: string[]): string[] {
  return [
    path.join(ROOT, 'bench/worker-cli.mjs'),
    '-A',
    appModule,
    'worker',
    '-l',
    'warning',
    ...flags,
  ];
}

/** Starts `celeriac worker` on the bench app; resolves once it is ready. */
export function spawnWorker(
  appModule: string,
  env: Record<string, string>,
  flags: string[],
): Promise<BenchChild> {
  return startChild(workerCommand(appModule, flags), env);
}

export interface BenchChild {
  /** The child's `bench-ready ...` line (some children add figures to it, e.g. their RSS). */
  ready: string;
  lines: AsyncIterable<string>;
  stop: () => Promise<void>;
}

/**
 * Starts a benchmark child process, waits for its `bench-ready` line and gives its output
 * lines. Must never leave a child running: `stop()` kills it and waits for its exit.
 */
export async function startChild(args: string[], env: Record<string, string>): Promise<BenchChild> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      queue.push(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
    wake?.();
  });
  child.once('exit', () => wake?.());
  const lines: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const line = queue.shift();
        if (line !== undefined) {
          yield line;
          continue;
        }
        if (child.exitCode !== null || child.signalCode !== null) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A warm stop first, so the worker settles what it ran: a SIGKILL leaves its last acks
    // unsent and those messages leased, and purge (ready messages only) rightly keeps them,
    // where they would weigh on the next measurement. Killed if it has not gone in 5 s.
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  for await (const line of lines)
    if (line.startsWith('bench-ready')) return { ready: line, lines, stop };
  await stop();
  throw new Error(`${args.join(' ')} exited before it was ready`);
}

export async function nextLine(lines: AsyncIterable<string>, prefix: string): Promise<string> {
  for await (const line of lines) if (line.startsWith(prefix)) return line;
  throw new Error(`worker exited before printing ${prefix}`);
}

/**
 * CPU time (user + system, µs) used so far by the local processes with this command name
 * (`beam.smp` for RabbitMQ, `redis-server`), read from /proc; undefined where /proc is
 * missing or none runs. Ticks of 10 ms: meaningful over runs of a second or more.
 */
export function serverCpuMicros(comm: string): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
      found = true;
    } catch {
      // Gone meanwhile.
    }
  }
  return found ? (ticks * 1e6) / 100 : undefined;
}

/** `12.3 µs/task` from CPU µs over a count; empty when unknown. */
export function perTask(cpuMicros: number | undefined, count: number): string {
  return cpuMicros === undefined || !Number.isFinite(cpuMicros)
    ? ''
    : `${(cpuMicros / count).toFixed(1)} µs CPU/task`;
}

/** CPU time (user + system, µs) of a process and its direct children, from /proc; undefined without. */
export function treeCpuMicros(root: number): number | undefined {
  let total = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pid) !== root && Number(fields[1]) !== root) continue;
      total += Number(fields[11]) + Number(fields[12]);
      found = true;
    } catch {
      // Gone meanwhile.
    }
  }
  return found ? (total * 1e6) / 100 : undefined;
}
