/**
 * The dashboard in Chromium (playwright-core, Debian's /usr/bin/chromium) against a real
 * worker on a real broker and backend, SQLite and Redis (each its own file or key
 * prefix), mounted with the node:http adapter: filter by state, search by an argument,
 * retry one task with edited arguments (and see its workflow tree), retry every failure
 * of a task by filter after a confirmation that counts them, revoke, terminate a running
 * task, a stored schedule edited and run now, a new task appearing and a task's page
 * following its state without a reload (SSE), an `authorize` hook refusing an anonymous
 * action; a worker's pool grown from the browser by remote control (Redis by pub/sub,
 * SQLite through its broadcast table) and a queue paused and resumed (stored in the worker
 * registry, followed at the worker's heartbeat). Screenshots of
 * each page go to `.screenshots/dashboard/<broker>/` (git-ignored). Skipped with the
 * reason without Chromium, or without Redis for its half.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Celeriac } from '../../src/index.js';
import type { ResultBackend } from '../../src/backends/backend.js';
import { Worker } from '../../src/worker/worker.js';
import { createLineLogger } from '../../src/logger.js';
import { createDashboard } from '../../src/web/dashboard/index.js';
import { celeriacNode } from '../../src/web/node-http.js';
import { services, REDIS_URL } from '../support/services.js';
import { deleteByPrefix, rawClient } from '../brokers/redis/redis-test-support.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const missing = haveChromium ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
// Skipped with the reason without a browser, but under CI=true a missing one is a broken machine.
if (missing && process.env.CI === 'true') throw new Error(`${missing}; CI must have it`);

const redisDown = await services.redis();
if (redisDown && process.env.CI === 'true')
  throw new Error(`CI=true and redis is required: ${redisDown}`);

for (const kind of ['sqlite', 'redis'] as const) {
  const skip =
    missing ?? (kind === 'redis' && redisDown ? `redis not reachable: ${redisDown}` : undefined);
  describe.skipIf(skip !== undefined)(
    skip
      ? `the dashboard in a browser on ${kind} (skipped: ${skip})`
      : `the dashboard in a browser on ${kind}`,
    () => {
      let dir: string;
      let app: Celeriac;
      let backend: ResultBackend;
      let worker: Worker;
      let server: Server;
      let base: string;
      let context: BrowserContext;
      const charged: Array<{ customerId: number }> = [];
      let releaseSlow: (() => void) | undefined;
      const keyPrefix = `celeriac-test:${randomUUID()}:`;
      const SHOTS = path.resolve('.screenshots/dashboard', kind);

      /**
       * Leaves the page before closing it: closing a tab whose live stream (SSE) was still
       * open sometimes took Chromium over a minute here.
       */
      async function closePage(page: Page): Promise<void> {
        await page.goto('about:blank');
        await page.close();
      }

      async function shot(page: Page, name: string): Promise<void> {
        await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
      }

      async function listIds(query: import('../../src/backends/task-listing.js').TaskQuery) {
        return (await backend.taskListing!().list({ ...query, limit: 1000 })).tasks;
      }

      beforeAll(async () => {
        if (skip) return;
        await mkdir(SHOTS, { recursive: true });
        dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-dashboard-'));
        app = new Celeriac({
          ...(kind === 'sqlite'
            ? { broker: `sqlite://${path.join(dir, 'shop.db')}` }
            : { broker: REDIS_URL, backend: REDIS_URL, keyPrefix }),
          resultExtended: true,
          trackReceived: true,
        });
        app.task('shop.charge', (order: { customerId: number; fail?: boolean }) => {
          charged.push(order);
          if (order.fail) throw new Error(`card of customer ${order.customerId} declined`);
          return { charged: order.customerId };
        });
        app.task('shop.slow', async function () {
          await this.progress(1, 2);
          await new Promise<void>((resolve) => (releaseSlow = resolve));
          return 'done slowly';
        });
        app.task('shop.hang', async function () {
          await this.progress(0, 1);
          // Runs until terminated: its signal fires then, with the reason it stops for.
          await new Promise<void>((_, reject) =>
            this.signal.addEventListener('abort', () => reject(this.signal.reason as Error)),
          );
          return 'never';
        });
        app.task('shop.bulk', (n: number) => n * 2, { queue: 'bulk' });
        worker = new Worker(app, {
          hostname: `w1@dashboard-test-${kind}`,
          queues: ['celery', 'bulk'],
          logger: createLineLogger({ level: 'silent' }),
        });
        await worker.start();
        backend = await app.resultBackend();
        const open = celeriacNode(createDashboard(app, { allowAnonymous: true }));
        const guarded = celeriacNode(
          createDashboard(app, {
            prefix: '/guarded',
            // Anyone may look; only a signed-in user (a session cookie) may act.
            authorize: (request) =>
              request.method === 'GET' ||
              /(?:^|; )session=admin/.test(request.headers.get('cookie') ?? ''),
          }),
        );
        server = http.createServer((req, res) => open(req, res, () => guarded(req, res)));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const profile = await mkdtemp(path.join(os.tmpdir(), 'celeriac-chromium-'));
        context = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
          viewport: { width: 1300, height: 900 },
        });
        // Each step well inside the test's 60 s, so a step that hangs names itself.
        context.setDefaultTimeout(20_000);
        // Six charges, two of which fail.
        const sent = [];
        for (let id = 1; id <= 6; id++)
          sent.push(
            await app.sendTask('shop.charge', [{ customerId: id, fail: id === 2 || id === 4 }]),
          );
        await vi.waitFor(
          async () => expect((await listIds({ states: ['SUCCESS', 'FAILURE'] })).length).toBe(6),
          { timeout: 20_000 },
        );
      }, 60_000);

      afterAll(async () => {
        if (skip) return;
        releaseSlow?.();
        await context?.close().catch(() => undefined);
        server?.closeAllConnections();
        await new Promise((resolve) => server?.close(resolve));
        await worker?.stop({ timeout: 5 });
        await app?.close();
        await rm(dir, { recursive: true, force: true });
        if (kind === 'redis') {
          const raw = rawClient();
          await deleteByPrefix(raw, keyPrefix);
          raw.disconnect();
        }
      });

      it('shows the overview, and filters tasks by state and by an argument with shareable URLs', async () => {
        const page = await context.newPage();
        const overview = await page.goto(`${base}/dashboard`);
        expect(overview?.headers()['content-security-policy']).toMatch(/script-src 'self'/);
        expect(
          Number(overview?.headers()['content-length'] ?? (await overview!.body()).length),
        ).toBeLessThan(150_000);
        await shot(page, 'overview');
        await page.goto(`${base}/dashboard/tasks`);
        await page.selectOption('select[name=state]', ['FAILURE']);
        await page.click('button:text("Filter")');
        await expect.poll(() => page.locator('#task-rows tr[data-id]').count()).toBe(2);
        expect(page.url()).toContain('state=FAILURE');
        await shot(page, 'tasks-failures');
        await page.goto(`${base}/dashboard/tasks`);
        await page.fill('input[name=field]', 'args.customerId = 3');
        await page.click('button:text("Filter")');
        await expect.poll(() => page.locator('#task-rows tr[data-id]').count()).toBe(1);
        await expect
          .poll(() => page.locator('#task-rows').textContent())
          .toContain('"customerId":3');
        await closePage(page);
      });

      it('retries one failed task with edited arguments after confirming', async () => {
        const [failed] = await listIds({
          states: ['FAILURE'],
          fields: [{ path: 'args.customerId', value: 2 }],
        });
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/tasks/${failed!.task_id}`);
        await expect.poll(() => page.locator('#task-result').textContent()).toContain('declined');
        await shot(page, 'task-failed');
        await page.fill('textarea[name=args]', '[{"customerId": 2, "fail": false}]');
        await page.click('button[value=retry]');
        await expect
          .poll(() => page.locator('#confirm-count').textContent())
          .toMatch(/retry\s+1\s+task/);
        await page.click('#confirm-yes');
        await vi.waitFor(
          async () => {
            const retried = (await listIds({ names: ['shop.charge'] })).filter(
              (t) => t.parent_id === failed!.task_id,
            );
            expect(retried.map((t) => t.status)).toEqual(['SUCCESS']);
          },
          { timeout: 15_000 },
        );
        const [retry] = (await listIds({ names: ['shop.charge'] })).filter(
          (t) => t.parent_id === failed!.task_id,
        );
        // Its page shows the workflow: the failed task it retried, with itself below.
        await page.goto(`${base}/dashboard/tasks/${retry!.task_id}`);
        await expect
          .poll(() => page.locator('#task-tree').textContent())
          .toContain(failed!.task_id);
        expect(await page.locator('#task-tree a').first().getAttribute('href')).toContain(
          failed!.task_id,
        );
        await expect.poll(() => page.locator('#task-timeline').textContent()).toContain('success');
        await shot(page, 'task-workflow');
        await closePage(page);
      });

      it('retries every failure of a task matched by a filter, saying first how many', async () => {
        const before = (await listIds({ names: ['shop.charge'] })).length;
        const failures = (await listIds({ states: ['FAILURE'], names: ['shop.charge'] })).length;
        expect(failures).toBeGreaterThan(0);
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/tasks?state=FAILURE&name=shop.charge`);
        await page.click('button[value=retry-all]');
        await expect
          .poll(() => page.locator('#confirm-count').textContent())
          .toMatch(new RegExp(`retry\\s+${failures}\\s+task`));
        await shot(page, 'confirm-bulk-retry');
        await page.click('#confirm-yes');
        await vi.waitFor(
          async () =>
            expect((await listIds({ names: ['shop.charge'] })).length).toBe(before + failures),
          { timeout: 15_000 },
        );
        await closePage(page);
      });

      it('revokes a task still waiting in its queue (nothing stored yet)', async () => {
        const later = await app.sendTask('shop.charge', [{ customerId: 99 }], { countdown: 120 });
        const page = await context.newPage();
        // Under load this test once ran into the suite's 60 s: a step that hangs names itself.
        page.setDefaultTimeout(20_000);
        await page.goto(`${base}/dashboard/tasks/${later.id}`);
        await page.click('button[value=revoke]');
        await page.click('#confirm-yes');
        await vi.waitFor(async () => expect(await backend.isRevoked(later.id)).toBe(true), {
          timeout: 10_000,
        });
        await closePage(page);
      });

      it('edits a stored schedule and asks for a run now', async () => {
        const store = backend.beatStore!();
        await store.open();
        try {
          await store.upsert(
            {
              name: 'nightly-report',
              task: 'shop.charge',
              schedule: { kind: 'interval', everyMs: 3_600_000 },
              args: [{ customerId: 7 }],
              kwargs: {},
              options: {},
              missedRunPolicy: 'skip',
              enabled: true,
              source: 'store',
            },
            Date.now(),
          );
          const page = await context.newPage();
          await page.goto(`${base}/dashboard/schedules`);
          await page.click('summary:text("Edit")');
          await page.fill('textarea[name=args]', '[{"customerId": 8}]');
          await page.click('button[value=edit]');
          await expect
            .poll(async () => (await store.get('nightly-report'))?.args)
            .toEqual([{ customerId: 8 }]);
          await page.click('button[value=disable]');
          await expect.poll(async () => (await store.get('nightly-report'))?.enabled).toBe(false);
          await page.click('button[value=run]');
          await expect
            .poll(async () => (await store.get('nightly-report'))?.runNowAt)
            .toBeGreaterThan(0);
          await shot(page, 'schedules');
          await closePage(page);
        } finally {
          await store.close();
        }
      });

      it('shows a new task without a reload (live over SSE)', async () => {
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/tasks?name=shop.charge`);
        await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
        await expect.poll(() => page.locator('#live-status').isVisible()).toBe(true);
        const fresh = await app.sendTask('shop.charge', [{ customerId: 123 }]);
        await expect
          .poll(() => page.locator(`#task-rows tr[data-id="${fresh.id}"]`).count(), {
            timeout: 15_000,
          })
          .toBe(1);
        // The same document: no navigation happened.
        expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(
          1,
        );
        await shot(page, 'tasks-live');
        await closePage(page);
      });

      it("updates one task's page as its state changes, without a reload", async () => {
        const slow = await app.sendTask('shop.slow', []);
        await vi.waitFor(
          async () => expect((await backend.get(slow.id))?.status).toBe('PROGRESS'),
          {
            timeout: 15_000,
          },
        );
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/tasks/${slow.id}`);
        await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
        await expect.poll(() => page.locator('#task-state').textContent()).toContain('PROGRESS');
        await expect.poll(() => page.locator('#live-status').isVisible()).toBe(true);
        releaseSlow?.();
        await expect
          .poll(() => page.locator('#task-state').textContent(), { timeout: 15_000 })
          .toContain('SUCCESS');
        await expect
          .poll(() => page.locator('#task-result').textContent())
          .toContain('done slowly');
        expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(
          1,
        );
        await closePage(page);
      });

      it('lets authorize refuse an anonymous action, and refuses a form without its CSRF token', async () => {
        const [task] = await listIds({ states: ['SUCCESS'] });
        const page = await context.newPage();
        await page.goto(`${base}/guarded/tasks/${task!.task_id}`);
        await page.click('button[value=delete]');
        await expect
          .poll(() => page.locator('body').textContent())
          .toContain('You may not use this dashboard.');
        expect(await backend.get(task!.task_id)).toBeDefined();
        await closePage(page);
        const forged = await fetch(`${base}/dashboard/actions`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `action=delete&id=${task!.task_id}&confirm=yes`,
        });
        expect(forged.status).toBe(403);
        expect(await backend.get(task!.task_id)).toBeDefined();
      });

      it('terminates a running task from its page', async () => {
        const hang = await app.sendTask('shop.hang', []);
        await vi.waitFor(
          async () => expect((await backend.get(hang.id))?.status).toBe('PROGRESS'),
          {
            timeout: 15_000,
          },
        );
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/tasks/${hang.id}`);
        await expect.poll(() => page.locator('#task-timeline').textContent()).toContain('progress');
        await page.click('button[value=terminate]');
        await expect
          .poll(() => page.locator('#confirm-count').textContent())
          .toMatch(/terminate\s+1\s+task/);
        await page.click('#confirm-yes');
        await vi.waitFor(async () => expect((await backend.get(hang.id))?.status).toBe('REVOKED'), {
          timeout: 15_000,
        });
        await closePage(page);
      });

      it('grows a worker pool by remote control and pauses and resumes a queue', async () => {
        const page = await context.newPage();
        await page.goto(`${base}/dashboard/workers`);
        await expect
          .poll(() => page.locator(`tr[data-worker="${worker.hostname}"]`).count(), {
            timeout: 10_000,
          })
          .toBe(1);
        await shot(page, 'workers');
        const before = worker.concurrency;
        await page.fill('form.operate input[name=n]', '2');
        await page.click('form.operate button[value=pool_grow]');
        await expect
          .poll(() => page.locator('#confirm-count').textContent())
          .toContain(`grow the pool of ${worker.hostname} by 2`);
        await page.click('#confirm-yes');
        await expect
          .poll(() => page.locator('#operation-replies').textContent(), { timeout: 10_000 })
          .toContain('pool will grow');
        expect(worker.concurrency).toBe(before + 2);
        await shot(page, 'worker-operated');
        await page.goto(`${base}/dashboard/queues`);
        await page.click('tr[data-queue="bulk"] button[value=pause]');
        await expect
          .poll(() => page.locator('#confirm-count').textContent())
          .toContain('pause queue bulk');
        await page.click('#confirm-yes');
        // Stored in the worker registry: the worker stops consuming at its next heartbeat.
        await expect
          .poll(() => page.locator('#operation-done').textContent(), { timeout: 10_000 })
          .toContain('pause queue bulk');
        // The consumers column reads the workers' heartbeats (every 2 s), sent after the
        // worker followed the pause; the page follows them live, with no reload.
        await page.goto(`${base}/dashboard/queues`);
        await page.evaluate(() => ((window as unknown as { marker: number }).marker = 2));
        await expect
          .poll(() => page.locator('tr[data-queue="bulk"]').textContent(), { timeout: 15_000 })
          .not.toContain(worker.hostname);
        expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(
          2,
        );
        expect(await page.locator('tr[data-queue="bulk"]').textContent()).toContain('paused');
        const waiting = await app.sendTask('shop.bulk', [21]);
        await shot(page, 'queues-paused');
        await page.goto(`${base}/dashboard/dead-letters`);
        await shot(page, 'dead-letters');
        await page.goto(`${base}/dashboard/queues`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(await backend.get(waiting.id)).toBeUndefined();
        await page.click('tr[data-queue="bulk"] button[value=resume]');
        await page.click('#confirm-yes');
        await expect
          .poll(() => page.locator('#operation-done').textContent(), { timeout: 10_000 })
          .toContain('resume queue bulk');
        await vi.waitFor(async () => expect((await backend.get(waiting.id))?.result).toBe(42), {
          timeout: 15_000,
        });
        await closePage(page);
      });
    },
  );
}
