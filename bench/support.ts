/**
 * Shared bench helpers: high-resolution wall clock comparable across processes,
 * percentiles, rate formatting, and spawning a worker process that reports completion.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

export function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function row(label: string, value: string, note = ''): void {
  process.stdout.write(`  ${label.padEnd(52)} ${value.padStart(14)}  ${note}\n`);
}

/** Starts `celeriac worker` on the bench app; resolves once it is ready. */
export function spawnWorker(
  appModule: string,
  env: Record<string, string>,
  flags: string[],
): Promise<{ child: ChildProcess; lines: AsyncIterable<string>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/worker-cli.mjs'), '-A', appModule, 'worker', '-l', 'warning', ...flags], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      queue.push(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      wake?.();
    }
  });
  const lines: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const line = queue.shift();
        if (line !== undefined) {
          yield line;
          continue;
        }
        if (child.exitCode !== null) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  };
  return (async () => {
    for await (const line of lines) if (line.startsWith('bench-ready')) break;
    return { child, lines, stop };
  })();
}

export async function nextLine(lines: AsyncIterable<string>, prefix: string): Promise<string> {
  for await (const line of lines) if (line.startsWith(prefix)) return line;
  throw new Error(`worker exited before printing ${prefix}`);
}
