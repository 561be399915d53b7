/**
 * docs/testing.md as written: runTask runs a task inline with a real context, drain runs
 * what was sent on memory:// with an in-process worker. Only the import paths differ from
 * the page (`celeriac/testing` is ../../src/testing/index.js here).
 */
import { afterEach, expect, it } from 'vitest';
import { drain, runTask } from '../../src/testing/index.js';
import type { ResultMeta } from '../../src/index.js';
import { app, outbox, sendEmail, welcome } from './fixtures/tasks.js';

afterEach(async () => {
  outbox.length = 0;
  await app.close(); // the memory:// store goes with its last connection
});

// --- from docs/testing.md: "Run a task inline" ---
it('sends the email', async () => {
  const states: ResultMeta[] = [];
  const result = await runTask(sendEmail, ['ada@example.com', 'Welcome'], {
    onState: (meta) => states.push(meta),
  });
  expect(result).toEqual({ sent: true, attempt: 0 });
  expect(outbox).toEqual([{ to: 'ada@example.com', subject: 'Welcome' }]);
  expect(states.map((meta) => meta.status)).toEqual(['PROGRESS']);
});

it('refuses a bad address', async () => {
  await expect(runTask(sendEmail, ['nobody', 'Welcome'])).rejects.toThrow(TypeError);
});

it('reports the attempt it is told it is', async () => {
  expect(await runTask(sendEmail, ['ada@example.com', 'Again'], { retries: 2 })).toEqual({
    sent: true,
    attempt: 2,
  });
});

// --- from docs/testing.md: "Drain the queue" ---
it('welcomes a user with an email', async () => {
  const result = await welcome.delay(7);
  await drain(app);
  const { emailTask } = await result.get();
  expect(await app.asyncResult(emailTask).get()).toEqual({ sent: true, attempt: 0 });
  expect(outbox).toEqual([{ to: 'user7@example.com', subject: 'Welcome' }]);
});

it('records the failure of a bad address', async () => {
  const result = await sendEmail.delay('nobody', 'Welcome');
  await drain(app);
  expect(await result.state()).toBe('FAILURE');
});
