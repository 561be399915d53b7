/**
 * Starts one member of a `threads` or `processes` pool (a worker thread, or a child Node
 * process with an IPC channel) running pool-member.ts, and wraps each behind one small
 * transport: send, kill, and events for messages and exit. It knows nothing of tasks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type { FromMember, MemberSetup, ToMember } from './pool-messages.js';

export type MemberKind = 'threads' | 'processes';

export interface MemberHandlers {
  onMessage(message: FromMember): void;
  /** The member ended: `how` says why (`exit code 1`, `signal SIGKILL`, an uncaught error). */
  onExit(how: string): void;
}

export interface MemberTransport {
  /** The child's pid, or the thread's id prefixed with `t` (threads share the worker's pid). */
  readonly label: string;
  /** The child's pid; undefined for a thread. */
  readonly pid?: number | undefined;
  send(message: ToMember): void;
  /** Stops the member now: a thread is terminated, a child gets `signal` (SIGKILL after 2 s). */
  kill(signal?: NodeJS.Signals): void;
  /** Asks the member to end once idle: the thread is terminated, the child's channel closed. */
  close(): void;
}

/** How long a killed child has to exit before SIGKILL. */
const KILL_GRACE_MS = 2000;

export function startMember(
  kind: MemberKind,
  setup: MemberSetup,
  handlers: MemberHandlers,
): MemberTransport {
  const code = bootstrap(setup, kind === 'threads' ? 'thread' : 'process');
  return kind === 'threads' ? startThread(code, handlers) : startChild(code, handlers);
}

function startThread(code: string, handlers: MemberHandlers): MemberTransport {
  const thread = new Thread(code, { eval: true });
  let ended = false;
  const end = (how: string) => {
    if (ended) return;
    ended = true;
    handlers.onExit(how);
  };
  thread.on('message', (message: FromMember) => handlers.onMessage(message));
  thread.on('error', (error) => end(`uncaught ${error.name}: ${error.message}`));
  thread.on('exit', (code) => end(`exit code ${code}`));
  return {
    label: `thread ${thread.threadId}`,
    send: (message) => thread.postMessage(message),
    kill: () => void thread.terminate(),
    close: () => void thread.terminate(),
  };
}

function startChild(code: string, handlers: MemberHandlers): MemberTransport {
  const child: ChildProcess = spawn(
    process.execPath,
    // The worker's own Node flags, less the inspector's (a second one on its port would fail).
    [
      ...process.execArgv.filter((arg) => !arg.startsWith('--inspect')),
      '--input-type=module',
      '-e',
      code,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' },
  );
  let killTimer: NodeJS.Timeout | undefined;
  child.on('message', (message: FromMember) => handlers.onMessage(message));
  child.on('error', () => undefined); // a send to a child that just died: its exit follows
  child.once('exit', (code, signal) => {
    clearTimeout(killTimer);
    handlers.onExit(signal ? `signal ${signal}` : `exit code ${code}`);
  });
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    if (signal !== 'SIGKILL' && !killTimer) {
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    }
  };
  return {
    label: `pid ${child.pid}`,
    pid: child.pid,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    kill,
    close: () => {
      // The member exits on disconnect; one that does not is killed.
      if (child.connected) child.disconnect();
      kill('SIGTERM');
    },
  };
}

/**
 * The code a member starts with: registers tsx when TypeScript is involved and the
 * process has not (bin/celeriac.js registers it in its own thread only), then imports
 * pool-member and starts it. The same text runs as a thread's eval script and a child's `-e`.
 */
function bootstrap(setup: MemberSetup, mode: 'thread' | 'process'): string {
  const entry = new URL(`./pool-member${extensionOf(import.meta.url)}`, import.meta.url).href;
  const start = `import(${JSON.stringify(entry)}).then((m) => m.startMember(${JSON.stringify(setup)}, ${JSON.stringify(mode)}))`;
  const needsTsx =
    (entry.endsWith('.ts') || /\.[cm]?tsx?(:[^/\\]*)?$/.test(setup.appModule)) &&
    !process.execArgv.some((arg) => arg.includes('tsx'));
  if (!needsTsx) return `${start}.catch((e) => { console.error(e); process.exit(1); });`;
  const tsx = tsxApiUrl();
  return (
    `import(${JSON.stringify(tsx)}).then((t) => { (t.register ?? t.default.register)(); return ${start}; })` +
    `.catch((e) => { console.error(e); process.exit(1); });`
  );
}

/** tsx's ESM API (its CommonJS twin cannot register the hooks from an ES module). */
function tsxApiUrl(): string {
  const meta = import.meta as ImportMeta & { resolve?: (specifier: string) => string };
  if (typeof meta.resolve === 'function') return meta.resolve('tsx/esm/api');
  const root = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  return pathToFileURL(path.join(root, 'dist/esm/api/index.mjs')).href;
}

function extensionOf(url: string): string {
  const match = /\.[cm]?[jt]s$/.exec(new URL(url).pathname);
  return match ? match[0] : '.js';
}
