// Type tests: the public API checks task arguments at compile time and carries results.
import { describe, expectTypeOf, it } from 'vitest';
import {
  Celeriac,
  type AsyncResult,
  type ArgsOf,
  type ResultOf,
  type TaskContext,
} from '../../src/index.js';

const app = new Celeriac({ broker: 'sqlite://:memory:' });

const sendEmail = app.task('emails.send', async (to: string, subject: string) => ({
  to,
  subject,
  sent: true,
}));
const add = app.signature<[a: number, b: number], number>('tasks.add');
const withContext = app.task('ctx.task', function (n: number) {
  expectTypeOf(this).toEqualTypeOf<TaskContext>();
  return String(n);
});

describe('typed tasks', () => {
  it('delay takes exactly the function parameters', () => {
    expectTypeOf(sendEmail.delay).parameters.toEqualTypeOf<[to: string, subject: string]>();
    // @ts-expect-error a number is not a string
    void sendEmail.delay(1, 'hi');
    // @ts-expect-error missing argument
    void sendEmail.delay('a@b.c');
  });

  it('the result type flows to AsyncResult and get()', () => {
    expectTypeOf(sendEmail.delay('a', 'b')).resolves.toEqualTypeOf<
      AsyncResult<{ to: string; subject: string; sent: boolean }>
    >();
    expectTypeOf(add.delay(1, 2)).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf<AsyncResult<number>['get']>().toBeCallableWith();
    expectTypeOf(withContext.applyAsync([1], { countdown: 5 })).resolves.toEqualTypeOf<
      AsyncResult<string>
    >();
  });

  it('signatures of tasks defined elsewhere are typed by declaration', () => {
    expectTypeOf(add.delay).parameters.toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf<ResultOf<typeof add>>().toEqualTypeOf<number>();
    expectTypeOf<ArgsOf<typeof add>>().toEqualTypeOf<[a: number, b: number]>();
    // @ts-expect-error strings are not numbers
    void add.applyAsync(['1', '2']);
  });
});
