// Type tests: get({ propagate: false }) resolves to the result or the error; app.periodic
// checks its args against the task's parameters; resultSchema is typed by the task's result.
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { Celeriac, crontab, every, type AsyncResult, type TaskFailure } from '../../src/index.js';

const app = new Celeriac({ broker: 'sqlite://:memory:' });
const emailDailyReport = app.task('reports.daily', async (shop: string) => ({ shop, sent: true }));
const add = app.signature<[a: number, b: number], number>('tasks.add');
const tick = app.task('tick', () => 1);

describe('AsyncResult.get', () => {
  it('resolves to the result when failures propagate, and to the result or the error when not', () => {
    const result = {} as AsyncResult<number>;
    expectTypeOf(result.get()).resolves.toEqualTypeOf<number>();
    expectTypeOf(result.get({ timeout: 5 })).resolves.toEqualTypeOf<number>();
    expectTypeOf(result.get({ propagate: true })).resolves.toEqualTypeOf<number>();
    expectTypeOf(result.get({ propagate: false })).resolves.toEqualTypeOf<number | TaskFailure>();
    const propagate = Math.random() > 0.5;
    expectTypeOf(result.get({ propagate })).resolves.toEqualTypeOf<number | TaskFailure>();
    expectTypeOf<TaskFailure>().toExtend<Error>();
  });
});

describe('app.periodic', () => {
  it("compiles docs/beat.md's example, with the task's own arguments", () => {
    app.periodic('daily-sales-report', {
      task: emailDailyReport,
      schedule: crontab('0 8 * * *', { tz: 'Europe/London' }),
      args: ['main-street'],
      options: { expires: 3600 },
    });
    app.periodic('sum', { task: add, schedule: every('5m'), args: [1, 2] });
    app.periodic('tick', { task: tick, schedule: every('1m') });
    app.periodic('by-name', {
      task: 'any.task',
      schedule: every('1m'),
      args: [1, 'x', { any: true }],
    });
  });

  it('refuses arguments that do not match the task', () => {
    // @ts-expect-error a number is not the shop's name
    app.periodic('wrong-type', { task: emailDailyReport, schedule: every('1h'), args: [42] });
    const tooMany = ['main-street', 'extra'] as [string, string];
    // @ts-expect-error one argument too many
    app.periodic('too-many', { task: emailDailyReport, schedule: every('1h'), args: tooMany });
    // @ts-expect-error a missing argument
    app.periodic('too-few', { task: add, schedule: every('1h'), args: [1] });
    // @ts-expect-error arguments left out
    app.periodic('no-args', { task: emailDailyReport, schedule: every('1h') });
    // @ts-expect-error strings are not numbers
    app.periodic('wrong-sig', { task: add, schedule: every('1h'), args: ['1', '2'] });
  });
});

describe('task schemas', () => {
  it('types argsSchema by the parameters and resultSchema by the return value', () => {
    app.task('typed.ok', (to: string, n: number) => ({ id: `${to}${n}` }), {
      argsSchema: z.tuple([z.string().email(), z.number().int()]),
      resultSchema: z.object({ id: z.string() }),
    });
    app.task('typed.bad-result', (to: string) => ({ id: to }), {
      // @ts-expect-error the schema's output is not the task's result
      resultSchema: z.object({ id: z.number() }),
    });
  });
});
