/**
 * Plumbing for the Redis interop tests: a private redis-server, a Python Celery worker and
 * client (the system's /usr/bin/python3 with python3-celery), and a `celeriac worker` on
 * the fixtures. Every process it starts is killed when the test file ends.
 * Must never touch the shared Redis on 6379.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli, type WorkerProcess } from '../../support/worker-process.js';
import { PrivateRedis } from '../../brokers/redis/redis-test-support.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const PYTHON = process.env.CELERIAC_TEST_PYTHON ?? '/usr/bin/python3';
const run = promisify(execFile);

/** Null when Python Celery can be used, else why not. */
export async function pythonCeleryMissing(): Promise<string | null> {
  try {
    await run(PYTHON, ['-c', 'import celery, redis'], { timeout: 20_000 });
    return null;
  } catch (error) {
    return `${PYTHON} cannot import celery and redis (${(error as Error).message.split('\n')[0]}); install python3-celery python3-redis`;
  }
}

export class InteropWorld {
  readonly children = new Set<ChildProcess>();

  private constructor(readonly redis: PrivateRedis) {}

  static async start(): Promise<InteropWorld> {
    return new InteropWorld(await PrivateRedis.start());
  }

  get brokerUrl(): string {
    return `redis://127.0.0.1:${this.redis.port}/0`;
  }

  get backendUrl(): string {
    return `redis://127.0.0.1:${this.redis.port}/1`;
  }

  private get pythonEnv(): Record<string, string> {
    return {
      INTEROP_BROKER: this.brokerUrl,
      INTEROP_BACKEND: this.backendUrl,
      PYTHONPATH: FIXTURES,
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  /** Runs pyclient.py once and returns its JSON line. */
  async py<T>(...args: string[]): Promise<T> {
    const { stdout } = await run(PYTHON, [path.join(FIXTURES, 'pyclient.py'), ...args], {
      env: { ...process.env, ...this.pythonEnv },
      timeout: 60_000,
    });
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1] ?? 'null') as T;
  }

  /** `celery -A pytasks worker -P solo -c 1`, resolved once it says it is ready. */
  async pythonWorker(
    queues = 'celery',
    name = 'py',
    env: Record<string, string> = {},
  ): Promise<ChildProcess> {
    const child = spawn(
      PYTHON,
      [
        '-m',
        'celery',
        '-A',
        'pytasks',
        'worker',
        '-P',
        'solo',
        '-c',
        '1',
        '-Q',
        queues,
        '-n',
        `${name}@interop`,
        '-l',
        'INFO',
      ],
      {
        cwd: FIXTURES,
        env: { ...process.env, ...this.pythonEnv, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.children.add(child);
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the Python worker did not start:\n${output}`)),
        30_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/ ready\./.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the Python worker exited (${code}):\n${output}`));
      });
    });
    return child;
  }

  /** `celeriac -A fixtures/node-app.ts worker`, resolved once it is ready. */
  async nodeWorker(flags: string[] = [], env: Record<string, string> = {}): Promise<WorkerProcess> {
    const worker = runCli(
      ['-A', path.join(FIXTURES, 'node-app.ts'), 'worker', '-l', 'info', ...flags],
      {
        CELERIAC_BROKER_URL: this.brokerUrl,
        CELERIAC_RESULT_BACKEND: this.backendUrl,
        INTEROP_BROKER: this.brokerUrl,
        ...env,
      },
    );
    this.children.add(worker.child);
    await worker.waitFor(/ready: queues=/);
    return worker;
  }

  async stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.children.delete(child);
  }

  async dispose(): Promise<void> {
    for (const child of [...this.children]) await this.stopChild(child);
    await this.redis.dispose();
  }
}

/** One answer of pycli.py: Celery's exit code and what it printed. */
export interface PythonCliAnswer {
  code: number;
  output: string;
}

/**
 * Celery's command line kept running (fixtures/pycli.py): `run(['-A', 'pytasks', ...])`
 * runs one `celery ...` command in it and resolves with its exit code and output, without
 * a new interpreter per call. Commands run one at a time, in the order asked.
 */
export class PythonCli {
  private readonly waiting: Array<{
    resolve: (answer: PythonCliAnswer) => void;
    reject: (error: Error) => void;
  }> = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        this.waiting.shift()?.resolve(JSON.parse(line) as PythonCliAnswer);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.once('exit', (code) => {
      for (const waiter of this.waiting.splice(0))
        waiter.reject(new Error(`pycli.py exited (${code}):\n${this.stderr}`));
    });
  }

  static start(world: InteropWorld): PythonCli {
    const child = spawn(PYTHON, [path.join(FIXTURES, 'pycli.py')], {
      cwd: FIXTURES,
      env: {
        ...process.env,
        INTEROP_BROKER: world.brokerUrl,
        INTEROP_BACKEND: world.backendUrl,
        PYTHONPATH: FIXTURES,
        PYTHONDONTWRITEBYTECODE: '1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    world.children.add(child);
    return new PythonCli(child);
  }

  /** Runs `celery <args>` (a list), or a pycli.py request object; resolves with its answer. */
  run(request: string[] | Record<string, unknown>): Promise<PythonCliAnswer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(`${JSON.stringify(request)}\n`);
    });
  }
}
