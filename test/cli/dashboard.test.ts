/**
 * `celeriac dashboard` serves the dashboard standalone on the app's broker and backend:
 * the tasks page lists a task sent with `celeriac call`, `/metrics` answers; a non-local
 * address without `--read-only` or `--allow-anonymous` is refused before anything starts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from '../support/worker-process.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
});

describe('celeriac dashboard', () => {
  it('serves the pages and /metrics for the app', async () => {
    const { env } = sqliteEnv('dashboard');
    expect((await runToEnd(['-A', APP, 'call', 'cli.add', '-a', '[1, 2]'], env)).code).toBe(0);
    const served = runCli(['-A', APP, 'dashboard', '--port', '0'], env);
    const line = await served.waitFor(/on http:\/\/127\.0\.0\.1:\d+\//);
    const base = line.replace(/^on /, '').replace(/\/$/, '');
    const page = await fetch(`${base}/tasks`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.text()).toContain('<h1>Tasks</h1>');
    const metrics = await fetch(`${base}/metrics`);
    expect(await metrics.text()).toMatch(/^celeriac_queue_depth\{queue="celery"\} 1$/m);
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
  });

  it('refuses a non-local address without --read-only or --allow-anonymous', async () => {
    const { env } = sqliteEnv('dashboard-refused');
    const refused = await runToEnd(
      ['-A', APP, 'dashboard', '--host', '0.0.0.0', '--port', '0'],
      env,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/add --read-only, or --allow-anonymous/);
  });
});
