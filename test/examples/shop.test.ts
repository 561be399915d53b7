/**
 * The shop demo end to end, as `npm run demo` runs it: the real web server and a real
 * worker process on a SQLite file. Orders go in over HTTP and are followed over the
 * server-sent event stream; the files the worker writes are checked on disk. A port in
 * use is one clear line and exit 1.
 */
import { readdir, readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../src/web/index.js';
import { collectData } from '../web/sse-reader.js';
import {
  isAlive,
  orderFields,
  runDemoToExit,
  startDemo,
  type RunningDemo,
} from './demo-process.js';
import { runCli } from '../support/worker-process.js';

interface OrderOutcome {
  orderId: string;
  receiptFile: string;
  receiptUrl: string;
  emailFile: string;
  totalCents: number;
}

async function placeOrder(demo: RunningDemo, cardNumber?: string) {
  const response = await fetch(`${demo.url}/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(orderFields(cardNumber)),
  });
  return { response };
}

/** Follows the order's task from its `Location` until the stream ends by itself. */
async function follow(demo: RunningDemo, location: string): Promise<TaskView[]> {
  const response = await fetch(`${demo.url}${location}/stream`, {
    signal: AbortSignal.timeout(25_000),
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return collectData<TaskView>(response.body!);
}

describe('the shop demo', () => {
  let demo: RunningDemo;
  beforeAll(async () => {
    demo = await startDemo();
  });
  afterAll(async () => {
    await demo?.close();
  });

  it('answers an order with 202 at once, then streams its progress to SUCCESS', async () => {
    const { response } = await placeOrder(demo);
    expect(response.status).toBe(202);
    const body = (await response.json()) as { id: string; orderId: string };
    const location = response.headers.get('location');
    expect(location).toBe(`/tasks/${body.id}`);
    expect(body.orderId).toMatch(/^ORD-[0-9A-F]{10}$/);
    // "At once": the answer came before the order was done (its four steps take seconds).
    const right = (await (await fetch(`${demo.url}${location}`)).json()) as TaskView;
    expect(right.state).not.toBe('SUCCESS');

    const views = await follow(demo, location!);
    const states = views.map((view) => view.state);
    expect(states.at(-1)).toBe('SUCCESS');
    const steps = views
      .filter((view) => view.state === 'PROGRESS')
      .map((view) => view.progress?.step);
    expect(steps).toEqual([
      'checking the order',
      'charging the card',
      'rendering the receipt',
      'sending the confirmation email',
    ]);
    const percents = views.flatMap((view) => (view.progress ? [view.progress.percent] : []));
    expect(percents).toEqual([0, 25, 50, 75]);

    const outcome = views.at(-1)!.result as unknown as OrderOutcome;
    expect(outcome).toMatchObject({
      orderId: body.orderId,
      totalCents: 2580,
      receiptFile: `${body.orderId}.pdf`,
    });
    const json = (await (await fetch(`${demo.url}${location}`)).json()) as TaskView;
    expect(json).toMatchObject({ id: body.id, state: 'SUCCESS', error: null });
  });

  it('writes a real PDF receipt, serves it, and writes the confirmation email to the outbox', async () => {
    const { response } = await placeOrder(demo);
    const views = await follow(demo, response.headers.get('location')!);
    const outcome = views.at(-1)!.result as unknown as OrderOutcome;

    const pdf = await readFile(path.join(demo.dataDir, 'receipts', outcome.receiptFile));
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const served = await fetch(`${demo.url}${outcome.receiptUrl}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await served.arrayBuffer()).equals(pdf)).toBe(true);

    const eml = await readFile(path.join(demo.dataDir, 'outbox', outcome.emailFile), 'utf8');
    const [head = '', ...rest] = eml.split('\r\n\r\n');
    expect(rest.length).toBeGreaterThan(0);
    expect(head).toMatch(/^From: Celeriac Shop <orders@shop\.example>$/m);
    expect(head).toMatch(/^To: "Ada Lovelace" <ada@example\.com>$/m);
    expect(head).toMatch(new RegExp(`^Subject: Your order ${outcome.orderId} is confirmed$`, 'm'));
    expect(head).toMatch(/^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/m);
    expect(head).toMatch(/^Message-ID: <.+@shop\.example>$/m);
    expect(head).toMatch(/^Content-Type: multipart\/mixed; boundary="[^"]+"$/m);
    // Every line ends in CRLF, as RFC 5322 requires, and the PDF rides along as an attachment.
    expect(eml.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(eml).toContain(`filename="receipt-${outcome.orderId}.pdf"`);
  });

  it('retries a declined card with backoff, then ends in FAILURE with its message', async () => {
    const { response } = await placeOrder(demo, '4000 0000 0000 0002');
    expect(response.status).toBe(202);
    const views = await follow(demo, response.headers.get('location')!);
    const retries = views.filter((view) => view.state === 'RETRY');
    expect(retries).toHaveLength(2);
    for (const retry of retries)
      expect(retry.error).toEqual({
        type: 'CardDeclinedError',
        message: 'Your card was declined.',
      });
    // Which attempt failed and when the next is due, as the page shows them (from the RETRY meta).
    expect(
      retries.map(
        (view) => view.retry && { ...view.retry, nextAttemptAt: typeof view.retry.nextAttemptAt },
      ),
    ).toEqual([
      { attempt: 1, maxAttempts: 3, nextAttemptAt: 'string' },
      { attempt: 2, maxAttempts: 3, nextAttemptAt: 'string' },
    ]);
    for (const retry of retries)
      expect(retry.retry?.nextAttemptAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(views.at(-1)).toMatchObject({
      state: 'FAILURE',
      result: null,
      error: { type: 'CardDeclinedError', message: 'Your card was declined.' },
    });
    expect(demo.output.join('\n')).toMatch(
      /retry 2\/2 in [\d.]+ s: CardDeclinedError: Your card was declined/,
    );
  });

  it('serves an SVG favicon and links it from the page', async () => {
    const page = await (await fetch(`${demo.url}/`)).text();
    expect(page).toMatch(/<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml" \/>/);
    const icon = await fetch(`${demo.url}/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await icon.text()).toMatch(
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>\s*$/,
    );
  });

  it('refuses an invalid order with 400 and a message, sending nothing', async () => {
    const { response } = await placeOrder(demo, '1234 5678 9012 3456');
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('InvalidOrder');
    expect(body.error.message).toContain('card number');
    expect(response.headers.get('location')).toBeNull();
  });

  it('runs beat in the worker: the daily sales report goes out when asked to run now', async () => {
    const { response } = await placeOrder(demo);
    const location = response.headers.get('location');
    expect((await follow(demo, location!)).at(-1)?.state).toBe('SUCCESS');
    await demo.waitForLine(/beat \S+ started with 1 entries/);
    const cli = runCli(['-A', 'examples/shop/tasks.ts', 'beat', 'run-now', 'daily-sales-report'], {
      SHOP_DATA_DIR: demo.dataDir,
      PORT: '0',
    });
    expect(await cli.exited).toBe(0);
    await demo.waitForLine(/Sent daily-sales-report \(shop\.emailDailyReport\)/);
    await demo.waitForLine(/Task shop\.emailDailyReport\[\S+\] succeeded/);
    const reports = (await readdir(path.join(demo.dataDir, 'outbox'))).filter((f) =>
      f.startsWith('daily-report-'),
    );
    expect(reports).toHaveLength(1);
    const report = await readFile(path.join(demo.dataDir, 'outbox', reports[0]!), 'utf8');
    expect(report).toMatch(/^Subject: Daily sales report, /m);
    expect(report).toMatch(/Orders: [1-9]\d*/);
  });
});

describe('starting the demo', () => {
  it('says which port is in use and how to pick another, exits 1 and starts no worker', async () => {
    const taken = net.createServer().listen(0);
    await new Promise((resolve) => taken.once('listening', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const { code, output } = await runDemoToExit({ PORT: String(port) });
      const text = output.join('\n');
      expect(code).toBe(1);
      expect(text).toContain(`port ${port} is in use: set PORT=`);
      expect(text).not.toMatch(/TypeError|at \S+:\d+|worker started/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('refuses a PORT that is not a port number, naming it', async () => {
    const { code, output } = await runDemoToExit({ PORT: 'eighty' });
    expect(code).toBe(1);
    expect(output.join('\n')).toContain(
      'PORT must be a port number from 0 to 65535 (0 picks a free one), not "eighty"',
    );
  });
});

describe('stopping the demo', () => {
  it('stops the web server and the worker on Ctrl-C and exits 0', async () => {
    const demo = await startDemo();
    try {
      expect(isAlive(demo.workerPid)).toBe(true);
      // Stop a worker that is up: before it is ready, it has no signal handler to be clean with.
      await demo.waitForLine(/worker \| .* ready: /);
      expect(await demo.stop()).toBe(0);
      expect(isAlive(demo.workerPid)).toBe(false);
      expect(demo.output.join('\n')).toMatch(/warm shutdown/);
      await expect(fetch(demo.url)).rejects.toThrow();
    } finally {
      await demo.close();
    }
  });
});
