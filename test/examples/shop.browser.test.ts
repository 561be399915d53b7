/**
 * The shop demo as a person uses it: Debian's Chromium, driven by playwright-core, opens
 * the page, places an order, watches the progress bar move and gets the receipt link;
 * a declined card shows its error. Skipped with the reason when /usr/bin/chromium is
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

// One demo and one browser for the file: starting them is most of each test's time.
let session: Promise<Session> | undefined;
function openSession(): Promise<Session> {
  session ??= (async () => {
    const demo = await startDemo();
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
  return session;
}

afterAll(async () => {
  const opened = await session?.catch(() => undefined);
  if (!opened) return;
  await opened.context.close().catch(() => undefined);
  await opened.demo.close();
  await rm(opened.profileDir, { recursive: true, force: true });
});

/** Opens the shop and records every value the progress bar takes, as the page sets them. */
async function openShop({ demo, context }: Session): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${demo.url}/`);
  await page.evaluate(() => {
    const bar = document.getElementById('order-progress') as HTMLProgressElement;
    const seen: number[] = [];
    Object.assign(window, { progressSeen: seen });
    new MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
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

    const seen = await page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
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

  it('shows the error of a declined card after the retries', async (test) => {
    requireChromium(test);
    const opened = await openSession();
    const page = await openShop(opened);
    await placeOrder(page, '4000 0000 0000 0002');
    await page.locator('#order-status[data-state="FAILURE"]').waitFor({ timeout: 25_000 });
    const alert = page.getByRole('alert');
    expect(await alert.isVisible()).toBe(true);
    expect(await alert.textContent()).toBe('CardDeclinedError: Your card was declined.');
    const events = await page.locator('#order-events li').allTextContents();
    expect(events.filter((text) => text.includes('Retrying after CardDeclinedError'))).toHaveLength(2);
    expect(await page.getByRole('link', { name: 'Download the receipt (PDF)' }).isVisible()).toBe(false);
    if (process.env.SHOP_SCREENSHOT) await page.screenshot({ path: process.env.SHOP_SCREENSHOT.replace(/\.png$/, '-declined.png'), fullPage: true });
    await page.close();
  });
});
