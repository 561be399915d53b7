/**
 * `celeriac/next` under a real `next dev` server: a temp Next.js project (App Router) whose
 * route handlers mount the task handler (`app/api/tasks/[...path]/route.js`) and the
 * dashboard (`app/dashboard/[[...path]]/route.js`) exactly as the docs show, importing
 * `celeriac/next` and `celeriac/dashboard` (aliased to this checkout's sources, as an
 * installed package would resolve them). The test stores task states in the same SQLite
 * file and fetches pages and actions over HTTP. Next runs in its own process group, which
 * is killed when the test ends; the temp project is deleted.
 * Costs about 20 s on the 2-core machine (Turbopack compiles each route on first request).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { buildResultMeta } from '../../src/protocol/result-meta.js';
import { ROOT } from '../support/worker-process.js';

/** The deepest folder holding every path (Turbopack's root must hold all the files it reads). */
function commonAncestor(paths: string[]): string {
  const parts = paths.map((p) => path.resolve(p).split(path.sep));
  const first = parts[0]!;
  let length = 0;
  while (length < first.length && parts.every((p) => p[length] === first[length])) length += 1;
  return first.slice(0, length).join(path.sep) || path.sep;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Writes the temp Next.js project; answers its folder. */
async function writeProject(): Promise<string> {
  // Inside the checkout, so the sources it aliases are under the same Turbopack root.
  const dir = await mkdtemp(path.join(ROOT, '.next-server-'));
  const modules = await realpath(path.join(ROOT, 'node_modules'));
  await symlink(modules, path.join(dir, 'node_modules'), 'dir');
  const fromProject = (file: string) => path.relative(dir, path.join(ROOT, file));
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ private: true, type: 'module' }),
    'next.config.mjs': `export default ${JSON.stringify(
      {
        agentRules: false,
        experimental: { agentUpgrade: false },
        turbopack: {
          root: commonAncestor([dir, ROOT, modules]),
          resolveAlias: {
            'celeriac/next': fromProject('src/web/next.ts'),
            'celeriac/dashboard': fromProject('src/web/dashboard/index.ts'),
            celeriac: fromProject('src/index.ts'),
          },
        },
      },
      null,
      2,
    )};\n`,
    'app/layout.js': 'export default function Layout({ children }) { return children; }\n',
    'app/celeriac.js': [
      "import { Celeriac } from 'celeriac';",
      'export const app = new Celeriac({ broker: process.env.CELERIAC_BROKER_URL });',
      '',
    ].join('\n'),
    'app/api/tasks/[...path]/route.js': [
      "import { celeriacNext } from 'celeriac/next';",
      "import { app } from '../../../celeriac.js';",
      "export const { GET, HEAD } = celeriacNext(app, { prefix: '/api/tasks' });",
      "export const dynamic = 'force-dynamic';",
      '',
    ].join('\n'),
    'app/dashboard/[[...path]]/route.js': [
      "import { celeriacNext } from 'celeriac/next';",
      "import { createDashboard } from 'celeriac/dashboard';",
      "import { app } from '../../celeriac.js';",
      'export const { GET, HEAD, POST } = celeriacNext(',
      '  createDashboard(app, { allowAnonymous: true }),',
      ');',
      "export const dynamic = 'force-dynamic';",
      '',
    ].join('\n'),
  };
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

/** Kills the whole process group of a detached child (next dev forks its router and workers). */
async function killGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return;
  const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : null;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return; // the group is gone already
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 3000);
  await exited;
  clearTimeout(timer);
  // Children that outlived the leader (a Turbopack worker) go with SIGKILL.
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // none left
  }
}

describe('celeriac/next under a real next dev server', () => {
  it('serves the task routes and the dashboard, and takes a confirmed action', async (test) => {
    const dir = await writeProject();
    const brokerUrl = `sqlite://${path.join(dir, 'tasks.db')}`;
    const app = new Celeriac({ broker: brokerUrl });
    test.onTestFinished(async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    });
    const backend = await app.resultBackend();
    const failed = randomUUID();
    const done = randomUUID();
    await backend.store(
      buildResultMeta({
        taskId: failed,
        status: 'FAILURE',
        result: { exc_type: 'ValueError', exc_message: ['bad'] },
        traceback: 'Traceback',
      }),
    );
    await backend.store(buildResultMeta({ taskId: done, status: 'SUCCESS', result: 42 }));

    const port = await freePort();
    const next = spawn(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/next/dist/bin/next'),
        'dev',
        '--port',
        String(port),
        '--hostname',
        '127.0.0.1',
      ],
      {
        cwd: dir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          CI: 'true',
          NEXT_TELEMETRY_DISABLED: '1',
          CELERIAC_BROKER_URL: brokerUrl,
        },
      },
    );
    test.onTestFinished(() => killGroup(next));
    let output = '';
    next.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    next.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`next dev not ready:\n${output}`)), 60_000);
      const check = () => {
        if (/Ready in/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      next.stdout.on('data', check);
      next.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`next dev exited ${code}:\n${output}`));
      });
    });
    const base = `http://127.0.0.1:${port}`;

    // The task handler: a state as JSON, HEAD without a body, a 404 of its own inside its folder.
    const state = await fetch(`${base}/api/tasks/${failed}`);
    expect(state.status, output).toBe(200);
    expect(await state.json()).toMatchObject({ id: failed, state: 'FAILURE' });
    const head = await fetch(`${base}/api/tasks/${done}`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const elsewhere = await fetch(`${base}/api/tasks/${done}/no/such/route`);
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toEqual({
      error: { type: 'NotFound', message: expect.stringMatching(/^No such route/) as string },
    });
    // Its event stream: the current state first, then the end of the stream (the task ended).
    const stream = await fetch(`${base}/api/tasks/${done}/stream`);
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(await stream.text()).toMatch(/"state":"SUCCESS"/);

    // The dashboard: the overview at the bare prefix, a task page with its CSP and CSRF cookie.
    const overview = await fetch(`${base}/dashboard`);
    expect(overview.status, output).toBe(200);
    expect(await overview.text()).toMatch(/<html/);
    const page = await fetch(`${base}/dashboard/tasks/${failed}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const body = await page.text();
    expect(body).toContain(failed);
    expect(body).toContain('ValueError');
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)![1]!;
    const form = (extra: string, headers: Record<string, string> = { cookie }) => ({
      method: 'POST',
      redirect: 'manual' as const,
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf}&action=delete&id=${failed}${extra}`,
    });
    const confirm = await fetch(`${base}/dashboard/actions`, form(''));
    expect(await confirm.text()).toMatch(/delete\s*<strong>1<\/strong>\s*task/);
    expect(await backend.get(failed)).toBeDefined();
    const forged = await fetch(`${base}/dashboard/actions`, form('&confirm=yes', {}));
    expect(forged.status).toBe(403);
    expect(await backend.get(failed)).toBeDefined();
    const deleted = await fetch(`${base}/dashboard/actions`, form('&confirm=yes'));
    expect(deleted.status).toBe(303);
    expect(await backend.get(failed)).toBeUndefined();
    const gone = await fetch(`${base}/api/tasks/${failed}`);
    expect(await gone.json()).toMatchObject({ id: failed, state: 'PENDING' });
  }, 180_000);
});
