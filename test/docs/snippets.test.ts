/**
 * Every ts/js code block of README.md and docs/*.md, as it is written: all are type-checked
 * together (strict, the project's own compiler options) and each runnable one is run in a
 * temporary directory (SQLite there, so `sqlite://./celeriac.db` lands in it). Imports of
 * `celeriac` and its subpaths are pointed at the sources, nothing else in a block changes.
 *
 * A block may be preceded by HTML comments that say how to treat it (invisible on the page):
 * - `<!-- snippet: skip (reason) -->`: neither checked nor run; only for blocks that truly
 *   cannot stand alone (browser code, a one-line fragment, a framework the project lacks).
 * - `<!-- snippet: typecheck (reason) -->`: checked, not run.
 * - `<!-- snippet: worker -->`: the block is an app module; a real `celeriac worker` runs it
 *   while the page's later blocks run (so their `result.get()` is answered).
 * - `<!-- snippet: service redis|rabbitmq -->`: run only where the service answers.
 * A block whose first line is `// <path>.ts` is written at that path, so later blocks of the
 * same page import it as the page does (`import { add } from './tasks.js'`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireService, services } from '../support/services.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = path.join(REPO, 'node_modules/typescript/bin/tsc');
const CLI = path.join(REPO, 'bin/celeriac.js');

type Mode = 'run' | 'typecheck' | 'skip';
interface Snippet {
  doc: string;
  line: number;
  code: string;
  /** Path inside the page's directory. */
  file: string;
  mode: Mode;
  reason: string | undefined;
  worker: boolean;
  service: keyof typeof services | undefined;
}

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO, 'docs'))
    // docs/testing.md's blocks are a test file and the module it tests: test/testing/testing-docs.test.ts runs them as written.
    .filter((f) => f.endsWith('.md') && f !== 'testing.md')
    .sort()
    .map((f) => `docs/${f}`),
];
const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'mts']);

function extract(doc: string): Snippet[] {
  const lines = readFileSync(path.join(REPO, doc), 'utf8').split('\n');
  const out: Snippet[] = [];
  let markers: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marker = /^<!--\s*snippet:\s*(.*?)\s*-->\s*$/.exec(line);
    if (marker) {
      markers.push(marker[1]!);
      continue;
    }
    const fence = /^```(\S*)/.exec(line);
    if (!fence) {
      if (line.trim() !== '') markers = [];
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    const lang = fence[1]!;
    if (CODE_LANGS.has(lang)) {
      let mode: Mode = 'run';
      let reason: string | undefined;
      let worker = false;
      let service: Snippet['service'];
      for (const m of markers) {
        const [word, ...rest] = m.split(/\s+/);
        if (word === 'skip' || word === 'typecheck') {
          mode = word;
          reason = rest.join(' ').replace(/^\((.*)\)$/, '$1') || undefined;
        } else if (word === 'worker') worker = true;
        else if (word === 'service' && rest[0] && rest[0] in services)
          service = rest[0] as keyof typeof services;
        else throw new Error(`${doc}:${start}: unknown snippet marker "${m}"`);
      }
      const named = /^\/\/\s*(\S+\.(?:ts|mts|js|mjs))\b/.exec(body[0] ?? '');
      out.push({
        doc,
        line: start + 1,
        code: body.join('\n'),
        file: named ? named[1]!.replace(/\.(js|mjs)$/, '.ts') : `snippet-line-${start + 1}.ts`,
        mode,
        reason,
        worker,
        service,
      });
    }
    markers = [];
  }
  return out;
}

/** `celeriac` and `celeriac/<subpath>` imports, pointed at the sources the exports map builds from. */
function pointAtSources(code: string, fromDir: string): string {
  const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    exports: Record<string, { types?: string } | string>;
  };
  return code.replace(
    /(from\s+|import\s*\(\s*)(['"])(celeriac(?:\/[\w-]+)?)\2/g,
    (match, lead: string, quote: string, spec: string) => {
      const key = spec === 'celeriac' ? '.' : `./${spec.slice('celeriac/'.length)}`;
      const target = manifest.exports[key];
      const types = typeof target === 'object' ? target.types : undefined;
      if (!types) throw new Error(`"${spec}" is not in package.json exports`);
      const source = path.join(
        REPO,
        types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.js'),
      );
      let relative = path.relative(fromDir, source).split(path.sep).join('/');
      if (!relative.startsWith('.')) relative = `./${relative}`;
      return `${lead}${quote}${relative}${quote}`;
    },
  );
}

const snippets = DOCS.flatMap(extract);
let tmp: string;
const children = new Set<ChildProcess>();
const where = (s: Snippet) => `${s.doc}:${s.line}`;
const dirOf = (doc: string) =>
  path.join(tmp, doc.replace(/\.md$/, '').replace(/\W+/g, '-').toLowerCase());

/** The environment without anything that would point a snippet at another broker. */
function env(): NodeJS.ProcessEnv {
  const { CELERIAC_BROKER_URL: _b, CELERIAC_RESULT_BACKEND: _r, ...rest } = process.env;
  return rest;
}

function spawnIn(dir: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.add(child);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { child, output: () => text };
}

function stop(child: ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const exited = once(child, 'exit');
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  return exited;
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'celeriac-snippets-'));
  writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  // The project's own devDependencies (express, zod, @types/node) resolve as a user's would.
  symlinkSync(path.join(REPO, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
  // Runs a block and exits when its top level is done, as a script would, even with connections open.
  writeFileSync(
    path.join(tmp, 'run-snippet.mjs'),
    'await import(process.argv[2]);\nprocess.exit(0);\n',
  );
  for (const snippet of snippets) {
    if (snippet.mode === 'skip') continue;
    const file = path.join(dirOf(snippet.doc), snippet.file);
    mkdirSync(path.dirname(file), { recursive: true });
    // `export {}` keeps a block without imports a module of its own, as a user's file is.
    writeFileSync(file, `${pointAtSources(snippet.code, path.dirname(file))}\nexport {};\n`);
  }
  writeFileSync(
    path.join(tmp, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(REPO, 'tsconfig.json'),
      compilerOptions: { noEmit: true, rootDir: path.parse(tmp).root },
      include: ['**/*.ts'],
      exclude: ['node_modules'],
    }),
  );
});

afterAll(async () => {
  await Promise.all([...children].map(stop));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('README and docs snippets', () => {
  it('finds the blocks, and every skipped or check-only block says why', () => {
    expect(snippets.length).toBeGreaterThan(15);
    const unexplained = snippets.filter((s) => s.mode !== 'run' && !s.reason).map(where);
    expect(unexplained).toEqual([]);
    const names = snippets.filter((s) => s.mode !== 'skip').map((s) => `${s.doc}/${s.file}`);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it('type-checks every block that is not skipped, as written', () => {
    const result = spawnSync(process.execPath, [TSC, '-p', path.join(tmp, 'tsconfig.json')], {
      cwd: tmp,
      encoding: 'utf8',
    });
    const legend = snippets
      .filter((s) => s.mode !== 'skip')
      .map((s) => `${path.relative(tmp, path.join(dirOf(s.doc), s.file))} is ${where(s)}`)
      .join('\n');
    const errors = `${result.stdout}${result.stderr}`;
    expect(errors, `${errors}\nwhere\n${legend}`).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('lists every new Celeriac() option in docs/configuration.md', () => {
    const config = readFileSync(path.join(REPO, 'src/app/config.ts'), 'utf8');
    const body = /export interface CeleriacOptions \{([\s\S]*?)\n\}/.exec(config)![1]!;
    const options = [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!);
    expect(options.length).toBeGreaterThan(5);
    const page = readFileSync(path.join(REPO, 'docs/configuration.md'), 'utf8');
    // A table row naming the option (prettier pads the cells).
    expect(options.filter((name) => !new RegExp(`^\\| \`${name}\` +\\|`, 'm').test(page))).toEqual(
      [],
    );
  });
});

const pages = DOCS.filter((doc) => snippets.some((s) => s.doc === doc && s.mode === 'run'));

describe.for(pages)('runs the blocks of %s', (doc) => {
  const blocks = snippets.filter((s) => s.doc === doc && s.mode === 'run');
  const workers: ChildProcess[] = [];

  afterAll(async () => {
    await Promise.all(workers.map(stop));
  });

  it.for(blocks)('line $line ($file)', { timeout: 90_000 }, async (snippet, ctx) => {
    if (snippet.service) await requireService(ctx, snippet.service);
    const dir = dirOf(doc);
    const file = path.join(dir, snippet.file);
    if (snippet.worker) {
      // The page's app module: a real worker runs it for the blocks that follow.
      const worker = spawnIn(dir, [CLI, '-A', file, 'worker', '-c', '2']);
      workers.push(worker.child);
      await waitFor(worker, / ready: /, `worker on ${where(snippet)}`);
      return;
    }
    const run = spawnIn(dir, [
      '--import',
      'tsx',
      path.join(tmp, 'run-snippet.mjs'),
      pathToFileURL(file).href,
    ]);
    const [code] = (await once(run.child, 'exit')) as [number | null];
    expect(code, `${where(snippet)} failed:\n${run.output()}`).toBe(0);
  });
});

function waitFor(
  proc: { child: ChildProcess; output: () => string },
  pattern: RegExp,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`${what}: no ${pattern} in 60 s:\n${proc.output()}`)),
      60_000,
    );
    const check = () => {
      if (pattern.test(proc.output())) done();
    };
    const exit = () => done(new Error(`${what} exited:\n${proc.output()}`));
    const done = (error?: Error) => {
      clearTimeout(timer);
      proc.child.stdout!.off('data', check);
      proc.child.stderr!.off('data', check);
      proc.child.off('exit', exit);
      if (error) reject(error);
      else resolve();
    };
    proc.child.stdout!.on('data', check);
    proc.child.stderr!.on('data', check);
    proc.child.once('exit', exit);
    check();
  });
}
