// Type tests: flow-control options take the task's own argument types in their key functions.
import { describe, expectTypeOf, it } from 'vitest';
import { Celeriac } from '../../src/index.js';

const app = new Celeriac({ broker: 'sqlite://:memory:' });

describe('flow options are typed by the task', () => {
  it('key functions get the task arguments', () => {
    app.task('t.debounce', (userId: string, page: number) => `${userId}${page}`, {
      debounce: {
        delay: 5,
        key: (userId, page) => {
          expectTypeOf(userId).toEqualTypeOf<string>();
          expectTypeOf(page).toEqualTypeOf<number>();
          return userId;
        },
      },
      throttle: { period: 60, key: (userId) => userId, mode: 'queue' },
      singleton: { key: (userId) => userId, mode: 'drop' },
      fairness: { key: (userId) => userId },
    });
  });

  it('a key function of the wrong shape, or a wrong mode, is refused', () => {
    app.task('t.bad', (n: number) => n, {
      // @ts-expect-error the argument is a number, not a string
      fairness: { key: (n: string) => n },
    });
    app.task('t.bad2', (n: number) => n, {
      // @ts-expect-error throttle modes are 'drop' and 'queue'
      throttle: { period: 1, mode: 'wait' },
    });
    app.task('t.bad3', (n: number) => n, {
      // @ts-expect-error a debounce needs its delay
      debounce: { key: (n) => String(n) },
    });
  });

  it('a call takes its own keys as strings, or false', () => {
    const task = app.task('t.call', (n: number) => n, { singleton: true });
    void task.applyAsync([1], { flow: { singleton: { key: 'k' }, debounce: false } });
    // @ts-expect-error a call's key is a string, not a function
    void task.applyAsync([1], { flow: { singleton: { key: (n: number) => String(n) } } });
  });
});
