/**
 * The shop demo as a person uses it: Debian's Chromium, driven by playwright-core, opens
 * the page, places an order, watches the progress bar move and gets the receipt link;
 * a declined card shows each attempt and when the next comes, then its error with the bar
 * stopped; a refused order shows its error in the form, with no order card; the favicon
 * is linked and served. Skipped with the reason when /usr/bin/chromium is
 * missing, except under CI=true, where a missing browser is a broken machine.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { startDemo, type RunningDemo } from './demo-process.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function requireChromium(ctx: TestContext): void {
  if (existsSync(CHROMIUM)) return;
  const reason = `${CHROMIUM} is missing (apt-get install -y chromium)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must have it`);
  ctx.skip(reason);
}

interface Session {
  demo: RunningDemo;
  context: BrowserContext;
  profileDir: string;
}

// One demo and one browser per demo environment for the file: starting them is most of
// each test's time.
const sessions = new Map<string, Promise<Session>>();
function openSession(env: Record<string, string> = {}): Promise<Session> {
  const key = JSON.stringify(env);
  let session = sessions.get(key);
  session ??= (async () => {
    const demo = await startDemo(env);
    // A fresh profile each run, so no cache, cookie or service worker from before leaks in.
    const profileDir = await mkdtemp(path.join(os.tmpdir(), 'celeriac-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 900, height: 1000 },
      });
      return { demo, context, profileDir };
    } catch (error) {
      await demo.close();
      await rm(profileDir, { recursive: true, force: true });
      throw error;
    }
  })();
  sessions.set(key, session);
  return session;
}

afterAll(async () => {
  for (const session of sessions.values()) {
    const opened = await session.catch(() => undefined);
    if (!opened) continue;
    await opened.context.close().catch(() => undefined);
    await opened.demo.close();
    await rm(opened.profileDir, { recursive: true, force: true });
  }
});

/** Opens the shop and records every value the progress bar takes, as the page sets them. */
async function openShop({ demo, context }: Session): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${demo.url}/`);
  await page.evaluate(() => {
    const bar = document.getElementById('order-progress') as HTMLProgressElement;
    const seen: number[] = [];
    Object.assign(window, { progressSeen: seen });
    new MutationObserver(() => seen.push(bar.value)).observe(bar, {
      attributes: true,
      attributeFilter: ['value'],
    });
  });
  return page;
}

async function placeOrder(page: Page, cardNumber: string): Promise<void> {
  await page.getByLabel('Product').selectOption('soup-kit');
  await page.getByLabel('Quantity').fill('2');
  await page.getByLabel('Card number').fill(cardNumber);
  await page.getByRole('button', { name: 'Place order' }).click();
}

describe('the shop page in Chromium', () => {
  it('places an order, shows the progress bar moving, then the receipt link', async (test) => {
    requireChromium(test);
    const opened = await openSession();
    const page = await openShop(opened);
    await placeOrder(page, '4242 4242 4242 4242');

    // The bar moves while the worker works, before the order is done.
    await page.waitForFunction(() => {
      const bar = document.getElementById('order-progress') as HTMLProgressElement;
      return bar.value > 0 && bar.value < 100;
    });
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^Working: /);
    await page.locator('#order-status[data-state="SUCCESS"]').waitFor({ timeout: 20_000 });

    const seen = await page.evaluate(
      () => (window as unknown as { progressSeen: number[] }).progressSeen,
    );
    const between = new Set(seen.filter((value) => value > 0 && value < 100));
    expect(between.size, `progress values seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).toBe(100);
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Order confirmed.');
    expect(await page.getByRole('alert').isVisible()).toBe(false);

    const link = page.getByRole('link', { name: 'Download the receipt (PDF)' });
    expect(await link.isVisible()).toBe(true);
    const href = await link.getAttribute('href');
    expect(href).toMatch(/^\/receipts\/ORD-[0-9A-F]{10}\.pdf$/);
    const receipt = await opened.context.request.get(`${opened.demo.url}${href}`);
    expect(receipt.status()).toBe(200);
    expect((await receipt.body()).subarray(0, 5).toString('latin1')).toBe('%PDF-');

    const screenshot = process.env.SHOP_SCREENSHOT ?? path.join(opened.profileDir, 'shop.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(existsSync(screenshot)).toBe(true);
    await page.close();
  });

  it('shows each attempt of a declined card and when the next comes, then the error with the bar stopped', async (test) => {
    requireChromium(test);
    const opened = await openSession();
    const page = await openShop(opened);
    // Every text the retry line shows, with the next attempt's time it carries.
    await page.evaluate(() => {
      const line = document.getElementById('order-retry')!;
      const seen: { text: string; nextAttemptAt: string | undefined }[] = [];
      Object.assign(window, { retrySeen: seen });
      new MutationObserver(() => {
        if (!line.hidden)
          seen.push({ text: line.textContent ?? '', nextAttemptAt: line.dataset.nextAttemptAt });
      }).observe(line, { childList: true, characterData: true, subtree: true, attributes: true });
    });
    await placeOrder(page, '4000 0000 0000 0002');
    await page.locator('#order-status[data-state="FAILURE"]').waitFor({ timeout: 25_000 });
    const alert = page.getByRole('alert');
    expect(await alert.isVisible()).toBe(true);
    expect(await alert.textContent()).toBe('CardDeclinedError: Your card was declined.');
    const events = await page.locator('#order-events li').allTextContents();
    const retries = events.filter((text) => text.includes('Retrying after CardDeclinedError'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(/\(attempt 1 of 3 failed; next attempt at \d/);
    expect(retries[1]).toMatch(/\(attempt 2 of 3 failed; next attempt at \d/);

    const retrySeen = await page.evaluate(
      () =>
        (window as unknown as { retrySeen: { text: string; nextAttemptAt?: string }[] }).retrySeen,
    );
    for (const attempt of [1, 2]) {
      const shown = retrySeen.find((seen) =>
        seen.text.startsWith(`Attempt ${attempt} of 3 failed. Next attempt at `),
      );
      expect(shown, JSON.stringify(retrySeen)).toBeDefined();
      expect(Number.isNaN(Date.parse(shown!.nextAttemptAt ?? ''))).toBe(false);
    }
    // Final: the retry line goes, and the bar stops where the task stopped instead of looking busy.
    expect(await page.locator('#order-retry').isHidden()).toBe(true);
    expect(await page.locator('#order-progress').getAttribute('data-stopped')).toBe('true');
    expect(await page.locator('#order-progress-text').textContent()).toMatch(/^stopped at \d+%$/);
    expect(await page.getByRole('link', { name: 'Download the receipt (PDF)' }).isVisible()).toBe(
      false,
    );
    if (process.env.SHOP_SCREENSHOT)
      await page.screenshot({
        path: process.env.SHOP_SCREENSHOT.replace(/\.png$/, '-declined.png'),
        fullPage: true,
      });
    await page.close();
  });

  it('shows the error of a refused order in the form, leaving no order card behind', async (test) => {
    requireChromium(test);
    const opened = await openSession();
    const page = await openShop(opened);
    await placeOrder(page, '4242 4242 4242 4242');
    await page.locator('#order-status[data-state="SUCCESS"]').waitFor({ timeout: 20_000 });
    // The next order is refused by the server (the card number fails its check).
    await placeOrder(page, '1234 5678 9012 3456');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe(
      'That card number is not valid (try 4242 4242 4242 4242).',
    );
    expect(await page.locator('#order-status').isHidden()).toBe(true);
    expect(await page.getByText('Sending the order').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Place order' }).isEnabled()).toBe(true);
    // Corrected, it goes through, and the form's error goes.
    await placeOrder(page, '4242 4242 4242 4242');
    await page.locator('#order-status[data-state="SUCCESS"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#form-error').isHidden()).toBe(true);
    await page.close();
  });

  it('links an SVG favicon the server serves', async (test) => {
    requireChromium(test);
    const opened = await openSession();
    const page = await openShop(opened);
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(href).toBe('/favicon.svg');
    const icon = await opened.context.request.get(`${opened.demo.url}${href}`);
    expect(icon.status()).toBe(200);
    expect(icon.headers()['content-type']).toMatch(/^image\/svg\+xml/);
    await page.close();
  });

  it('keeps following an order across the renewals of a short-lived stream', async (test) => {
    requireChromium(test);
    // Streams of 700 ms: an order (four steps of 600 ms) outlives several of them.
    const opened = await openSession({ SHOP_STREAM_LIFETIME_MS: '700' });
    const page = await openShop(opened);
    await placeOrder(page, '4242 4242 4242 4242');
    await page.locator('#order-status[data-state="SUCCESS"]').waitFor({ timeout: 30_000 });
    const events = await page.locator('#order-events li').allTextContents();
    expect(
      events.filter((text) => text.includes('renewing the live connection')).length,
      events.join('\n'),
    ).toBeGreaterThanOrEqual(1);
    expect(events.join('\n')).not.toMatch(/connection lost|live updates stopped/);
    expect(await page.getByRole('link', { name: 'Download the receipt (PDF)' }).isVisible()).toBe(
      true,
    );
    await page.close();
  });
});
