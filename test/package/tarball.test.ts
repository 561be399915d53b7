/**
 * The package as a user installs it: `npm pack` (which builds through `prepack`), then a
 * fresh ESM project (`npm init -y`) that installs the tarball and better-sqlite3 and, there,
 * runs the CLI from node_modules/.bin on a task module written as the README shows, imports
 * every `exports` subpath at run time, and type-checks a file importing every subpath under
 * both `node16` and `bundler` resolution. Never imports the repository's sources: whatever
 * the tarball lacks (a subpath, a .d.ts, the bin) fails here.
 *
 * Speed, honestly: better-sqlite3 compiles SQLite from source when no prebuilt binary can
 * be downloaded (none can here), about 80 CPU seconds. Its install script (prebuild-install)
 * accepts a local prebuilt binary (`npm_config_better_sqlite3_local_prebuilds`), which is how
 * users get it anyway (a download); the test hands it the binary that the repository's own
 * `npm ci` compiled from the same version. npm still installs the package from its tarball
 * and runs its install script. CELERIAC_TARBALL_COMPILE_SQLITE=1 compiles instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  renameSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoRequire = createRequire(path.join(REPO, 'package.json'));
// The tool, not the package under test: the repository's TypeScript checks the user's file.
const TSC = repoRequire.resolve('typescript/bin/tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let tmp: string;
let project: string;
let installed: { exports: Record<string, unknown>; bin: Record<string, string> };
const children = new Set<ChildProcess>();

/** The environment a user's shell would give: none of the npm variables of a surrounding `npm test`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'INIT_CWD' && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, ...extra };
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    encoding: 'utf8',
    timeout: 150_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** `run`, without blocking the event loop: for the steps that go on side by side. */
async function runAsync(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<string> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${code ?? signal}:\n${stdout}\n${stderr}`);
  return stdout;
}

/** Exact version of a package as the repository installed it, so npm finds it in its cache. */
function repoVersion(name: string): string {
  return (
    JSON.parse(readFileSync(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
}

/** Points prebuild-install at the repository's compiled better-sqlite3 binding, when there is one. */
function localSqlitePrebuild(): Record<string, string> {
  if (process.env.CELERIAC_TARBALL_COMPILE_SQLITE === '1') return {};
  const root = path.join(REPO, 'node_modules/better-sqlite3');
  const binding = path.join(root, 'build/Release/better_sqlite3.node');
  if (!existsSync(binding)) return {};
  const dir = path.join(tmp, 'prebuilds');
  mkdirSync(dir);
  const arch = process.arch;
  const name = `better-sqlite3-v${repoVersion('better-sqlite3')}-node-v${process.versions.modules}-${process.platform}-${arch}.tar.gz`;
  run('tar', ['-czf', path.join(dir, name), '-C', root, 'build/Release/better_sqlite3.node'], {
    cwd: tmp,
  });
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

/** Runs the installed `celeriac` command (node_modules/.bin) to completion, without blocking the worker's pipes. */
async function celeriac(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(path.join(project, 'node_modules/.bin/celeriac'), args, {
    cwd: project,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out };
}

/** The subpaths of the installed package's `exports`, as import specifiers. */
function subpaths(): string[] {
  return Object.keys(installed.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'celeriac' : `celeriac/${key.slice(2)}`));
}

const TASKS_TS = `// tasks.ts, as the README shows
import { Celeriac } from 'celeriac';

export const app = new Celeriac(); // sqlite://./celeriac.db; CELERIAC_BROKER_URL overrides

export class NetworkError extends Error {}

export const sendEmail = app.task(
  'emails.send',
  async function (to: string, subject: string) {
    await this.progress(1, 2, { step: 'rendering' });
    return { delivered: true, to, subject };
  },
  { autoretryFor: [NetworkError], maxRetries: 5 },
);
`;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'celeriac-tarball-'));
  const packed = path.join(tmp, 'pack');
  mkdirSync(packed);
  project = path.join(tmp, 'app');
  mkdirSync(project);
  // The pack (a whole build) and the fresh project's set-up do not depend on each other.
  await Promise.all([
    runAsync(NPM, ['pack', '--pack-destination', packed, '--silent'], { cwd: REPO }),
    (async () => {
      await runAsync(NPM, ['init', '-y'], { cwd: project });
      await runAsync(NPM, ['pkg', 'set', 'type=module'], { cwd: project });
    })(),
  ]);
  const [tarball] = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${packed}`);

  // vitest is the optional peer of celeriac/testing (its conformance suites are vitest suites).
  const peers = [
    'better-sqlite3',
    'ioredis',
    'amqplib',
    'pg',
    'express',
    'fastify',
    'hono',
    'vitest',
  ];
  // Types a TypeScript user of every subpath has; the drivers' d.ts files refer to them.
  const types = [
    '@types/node',
    '@types/better-sqlite3',
    '@types/amqplib',
    '@types/pg',
    '@types/express',
  ];
  await runAsync(
    NPM,
    [
      'install',
      path.join(packed, tarball),
      ...[...peers, ...types].map((name) => `${name}@${repoVersion(name)}`),
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    {
      cwd: project,
      env: {
        npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
        ...localSqlitePrebuild(),
      },
    },
  );
  installed = JSON.parse(
    readFileSync(path.join(project, 'node_modules/celeriac/package.json'), 'utf8'),
  ) as typeof installed;
  writeFileSync(path.join(project, 'tasks.ts'), TASKS_TS);
}, 480_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      // Each command runs in its own process group, so its children go with it.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await once(child, 'exit');
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball, installed in a fresh ESM project', () => {
  it('ships the JavaScript and the .d.ts of every exports subpath, and the bin', () => {
    const root = path.join(project, 'node_modules/celeriac');
    const missing: string[] = [];
    for (const [subpath, target] of Object.entries(installed.exports)) {
      const files =
        typeof target === 'string' ? [target] : Object.values(target as Record<string, string>);
      for (const file of files)
        if (!existsSync(path.join(root, file))) missing.push(`${subpath}: ${file}`);
    }
    for (const file of Object.values(installed.bin))
      if (!existsSync(path.join(root, file))) missing.push(`bin: ${file}`);
    expect(missing).toEqual([]);
    expect(subpaths()).toContain('celeriac');
    expect(existsSync(path.join(project, 'node_modules/.bin/celeriac'))).toBe(true);
  });

  // Before the side-by-side tests: it hides vitest, which the type checks need.
  it('runs a task with celeriac/testing in a project without vitest, which only the conformance entry needs', () => {
    // Hide the installed vitest, as in a project that tests with another runner.
    const vitestDir = path.join(project, 'node_modules/vitest');
    const hidden = `${vitestDir}.hidden`;
    renameSync(vitestDir, hidden);
    try {
      writeFileSync(
        path.join(project, 'run-inline.mjs'),
        `import { Celeriac } from 'celeriac';
import { runTask } from 'celeriac/testing';
const app = new Celeriac({ broker: 'memory://' });
const add = app.task('add', (a, b) => a + b);
console.log('sum', await runTask(add, [2, 3]));
await import('celeriac/testing/conformance').then(
  () => console.log('conformance loaded'),
  (error) => console.log('conformance needs', error.code),
);
`,
      );
      const out = run(process.execPath, ['run-inline.mjs'], { cwd: project });
      expect(out).toContain('sum 5');
      expect(out).toContain('conformance needs ERR_MODULE_NOT_FOUND');
    } finally {
      renameSync(hidden, vitestDir);
    }
  });

  it.concurrent('imports every exports subpath at run time', async ({ expect }) => {
    const script = subpaths()
      .map(
        (spec) =>
          `await import(${JSON.stringify(spec)}).then((m) => { if (Object.keys(m).length === 0) throw new Error(${JSON.stringify(`${spec} exports nothing`)}); });`,
      )
      .join('\n');
    writeFileSync(
      path.join(project, 'import-all.mjs'),
      `${script}\nconsole.log('imported ${subpaths().length}');\n`,
    );
    expect((await runAsync(process.execPath, ['import-all.mjs'], { cwd: project })).trim()).toBe(
      `imported ${subpaths().length}`,
    );
  });

  it.concurrent(
    'runs worker, call, result and status with the installed `celeriac` on SQLite',
    async ({ expect }) => {
      const env = { CELERIAC_BROKER_URL: `sqlite://${path.join(tmp, 'tasks.db')}` };
      const worker = spawn(
        path.join(project, 'node_modules/.bin/celeriac'),
        ['-A', 'tasks.ts', 'worker', '-c', '2'],
        {
          cwd: project,
          env: cleanEnv(env),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        },
      );
      children.add(worker);
      let log = '';
      worker.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
      worker.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`worker not ready in 60 s:\n${log}`)),
          60_000,
        );
        const check = () => {
          if (/ ready: /.test(log)) {
            clearTimeout(timer);
            resolve();
          }
        };
        worker.stdout.on('data', check);
        worker.stderr.on('data', check);
        worker.on('exit', (code) => reject(new Error(`worker exited ${code}:\n${log}`)));
      });
      expect(log).toContain('emails.send');

      const call = await celeriac(
        ['-A', 'tasks.ts', 'call', 'emails.send', '--args', '["ada@example.com", "Hi"]'],
        env,
      );
      expect(call.code, call.out).toBe(0);
      const id = call.out.trim();
      expect(id).toMatch(/^[0-9a-f-]{36}$/);

      const result = await celeriac(['-A', 'tasks.ts', 'result', id, '--timeout', '30'], env);
      expect(result.code, result.out).toBe(0);
      expect(JSON.parse(result.out.trim().split('\n').at(-1)!)).toEqual({
        delivered: true,
        to: 'ada@example.com',
        subject: 'Hi',
      });

      const status = await celeriac(['-A', 'tasks.ts', 'status'], env);
      expect(status.code, status.out).toBe(0);
      expect(status.out).toMatch(/broker: sqlite .* OK/);
      expect(status.out).toMatch(/1 node online/);
    },
    120_000,
  );

  const SETTINGS = {
    node16: { module: 'node16', moduleResolution: 'node16' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
  };

  // The two checks run side by side, and beside the run-time tests above: each is a
  // whole-program tsc over the package's .d.ts files, the longest steps here.
  it.concurrent.for(Object.keys(SETTINGS) as (keyof typeof SETTINGS)[])(
    'type-checks a file importing every exports subpath (strict, exactOptionalPropertyTypes, %s)',
    // Over 120 s each at load 20 to 26 on two cores (timed out there): a generous bound.
    { timeout: 360_000 },
    async (setting, { expect }) => {
      const specs = subpaths();
      const source = [
        ...specs.map((spec, i) => `import * as entry${i} from ${JSON.stringify(spec)};`),
        `import { Celeriac, RemoteTaskError, type AsyncResult, type CeleriacOptions, type TaskContext, type TransportMessage, type ConsumeOptions } from 'celeriac';`,
        `import { sendEmail } from './tasks.js';`,
        ``,
        `export const entries = [${specs.map((_, i) => `entry${i}`).join(', ')}];`,
        `const options: CeleriacOptions = { broker: 'sqlite://./celeriac.db' };`,
        `export const app = new Celeriac(options);`,
        `export async function send(): Promise<boolean> {`,
        `  const result: AsyncResult<{ delivered: boolean; to: string; subject: string }> = await sendEmail.delay('ada@example.com', 'Hi');`,
        `  // @ts-expect-error the task's signature is (to: string, subject: string)`,
        `  await sendEmail.delay('ada@example.com', 2);`,
        `  try {`,
        `    return (await result.get({ timeout: 30 })).delivered;`,
        `  } catch (error) {`,
        `    if (error instanceof RemoteTaskError) return false;`,
        `    throw error;`,
        `  }`,
        `}`,
        `export type Seen = [TaskContext, TransportMessage, ConsumeOptions];`,
        ``,
      ].join('\n');
      writeFileSync(path.join(project, `check-${setting}.ts`), source);
      const tsconfig = {
        compilerOptions: {
          ...SETTINGS[setting],
          target: 'es2022',
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: [`check-${setting}.ts`, 'tasks.ts'],
      };
      writeFileSync(
        path.join(project, `tsconfig.${setting}.json`),
        JSON.stringify(tsconfig, null, 2),
      );
      const tsc = spawn(process.execPath, [TSC, '-p', `tsconfig.${setting}.json`], {
        cwd: project,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      tsc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      tsc.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const [code] = (await once(tsc, 'exit')) as [number | null];
      expect(out).toBe('');
      expect(code).toBe(0);
    },
  );
  // After the side-by-side tests: it changes the project's package.json, which they read.
  it('tells a CommonJS project (npm init -y without "type": "module") what to change', async () => {
    const manifest = path.join(project, 'package.json');
    const original = readFileSync(manifest, 'utf8');
    writeFileSync(
      manifest,
      JSON.stringify({ ...(JSON.parse(original) as object), type: 'commonjs' }, null, 2),
    );
    try {
      const status = await celeriac(['-A', 'tasks.ts', 'status'], {
        CELERIAC_BROKER_URL: `sqlite://${path.join(tmp, 'cjs.db')}`,
      });
      expect(status.code).not.toBe(0);
      expect(status.out).toContain('ESM only');
      expect(status.out).toContain('npm pkg set type=module');
    } finally {
      writeFileSync(manifest, original);
    }
  });
});
