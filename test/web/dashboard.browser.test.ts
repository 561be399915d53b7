/**
 * The dashboard in Chromium (playwright-core, Debian's /usr/bin/chromium) against a real
 * worker on a real SQLite broker and backend, mounted with the node:http adapter: filter
 * by state, search by an argument, retry one task with edited arguments, retry every
 * failure of a task by filter after a confirmation that counts them, revoke, a stored
 * schedule edited and run now, a new task appearing and a task's page following its state
 * without a reload (SSE), and an
 * `authorize` hook refusing an anonymous action. Screenshots of each page go to
 * `.screenshots/dashboard/` (git-ignored). Skipped with the reason without Chromium.
 */
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

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve('.screenshots/dashboard');
const haveChromium = existsSync(CHROMIUM);
const missing = haveChromium ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
// Skipped with the reason without a browser, but under CI=true a missing one is a broken machine.
if (missing && process.env.CI === 'true') throw new Error(`${missing}; CI must have it`);

let dir: string;
let app: Celeriac;
let backend: ResultBackend;
let worker: Worker;
let server: Server;
let base: string;
let context: BrowserContext;
const charged: Array<{ customerId: number }> = [];
let releaseSlow: (() => void) | undefined;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function listIds(query: import('../../src/backends/task-listing.js').TaskQuery) {
  return (await backend.taskListing!().list({ ...query, limit: 1000 })).tasks;
}

beforeAll(async () => {
  if (!haveChromium) return;
  await mkdir(SHOTS, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-dashboard-'));
  app = new Celeriac({
    broker: `sqlite://${path.join(dir, 'shop.db')}`,
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
  worker = new Worker(app, {
    hostname: 'w1@dashboard-test',
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
  // Six charges, two of which fail.
  const sent = [];
  for (let id = 1; id <= 6; id++)
    sent.push(await app.sendTask('shop.charge', [{ customerId: id, fail: id === 2 || id === 4 }]));
  await vi.waitFor(
    async () => expect((await listIds({ states: ['SUCCESS', 'FAILURE'] })).length).toBe(6),
    { timeout: 20_000 },
  );
}, 60_000);

afterAll(async () => {
  if (!haveChromium) return;
  releaseSlow?.();
  await context?.close().catch(() => undefined);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await worker?.stop({ timeout: 5 });
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)(
  missing ? `the dashboard in a browser (skipped: ${missing})` : 'the dashboard in a browser',
  () => {
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
      await expect.poll(() => page.locator('#task-rows').textContent()).toContain('"customerId":3');
      await page.close();
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
      await page.close();
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
      await page.close();
    });

    it('revokes a task still waiting in its queue (nothing stored yet)', async () => {
      const later = await app.sendTask('shop.charge', [{ customerId: 99 }], { countdown: 120 });
      const page = await context.newPage();
      await page.goto(`${base}/dashboard/tasks/${later.id}`);
      await page.click('button[value=revoke]');
      await page.click('#confirm-yes');
      await vi.waitFor(async () => expect(await backend.isRevoked(later.id)).toBe(true), {
        timeout: 10_000,
      });
      await page.close();
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
        await page.close();
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
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
      await shot(page, 'tasks-live');
      await page.close();
    });

    it("updates one task's page as its state changes, without a reload", async () => {
      const slow = await app.sendTask('shop.slow', []);
      await vi.waitFor(async () => expect((await backend.get(slow.id))?.status).toBe('PROGRESS'), {
        timeout: 15_000,
      });
      const page = await context.newPage();
      await page.goto(`${base}/dashboard/tasks/${slow.id}`);
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
      await expect.poll(() => page.locator('#task-state').textContent()).toContain('PROGRESS');
      await expect.poll(() => page.locator('#live-status').isVisible()).toBe(true);
      releaseSlow?.();
      await expect
        .poll(() => page.locator('#task-state').textContent(), { timeout: 15_000 })
        .toContain('SUCCESS');
      await expect.poll(() => page.locator('#task-result').textContent()).toContain('done slowly');
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
      await page.close();
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
      await page.close();
      const forged = await fetch(`${base}/dashboard/actions`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `action=delete&id=${task!.task_id}&confirm=yes`,
      });
      expect(forged.status).toBe(403);
      expect(await backend.get(task!.task_id)).toBeDefined();
    });
  },
);
