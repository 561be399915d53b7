// Type tests: runTask checks a task's arguments and carries its result type, as delay does.
import { describe, expectTypeOf, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { drain, runTask, type DrainReport } from '../../src/testing/index.js';

const app = new Celeriac({ broker: 'memory://' });
const sendEmail = app.task('emails.send', async (to: string, subject: string) => ({
  to,
  subject,
  sent: true,
}));

describe('test helpers', () => {
  it('runTask takes exactly the task parameters and resolves with its result', () => {
    expectTypeOf(runTask(sendEmail, ['a@b.c', 'hi'])).resolves.toEqualTypeOf<{
      to: string;
      subject: string;
      sent: boolean;
    }>();
    // @ts-expect-error a number is not a string
    void runTask(sendEmail, [1, 'hi']);
    // @ts-expect-error missing argument
    void runTask(sendEmail, ['a@b.c']);
  });

  it('drain takes an app and reports what it did', () => {
    expectTypeOf(drain(app)).resolves.toEqualTypeOf<DrainReport>();
    // @ts-expect-error an unknown option
    void drain(app, { queue: 'celery' });
  });
});
