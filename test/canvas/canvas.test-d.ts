// Type tests of the canvas: partial arguments, a chain checked element by element, a
// chord's body given the header results in order, typed handles.
import { describe, expectTypeOf, it } from 'vitest';
import {
  Celeriac,
  chain,
  chord,
  group,
  type AsyncResult,
  type ChildResult,
  type GroupResult,
  type ResultHandle,
  type SettledResult,
  type Signature,
} from '../../src/index.js';

const app = new Celeriac({ broker: 'sqlite://:memory:' });
const add = app.task('t.add', (a: number, b: number) => a + b);
const toText = app.task('t.text', (n: number) => `n=${n}`);
const shout = app.task('t.shout', (s: string) => s.toUpperCase());
const tsum = app.task('t.sum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
const pair = app.task('t.pair', (values: [number, string]) => values.join(':'));
const report = app.task('t.report', (outcomes: SettledResult<number>[]) => outcomes.length);

describe('signatures', () => {
  it('s() takes a prefix of the arguments and leaves the rest', () => {
    expectTypeOf(add.s(1)).toEqualTypeOf<Signature<[b: number], number>>();
    expectTypeOf(add.s(1, 2)).toEqualTypeOf<Signature<[], number>>();
    expectTypeOf(add.s()).toEqualTypeOf<Signature<[a: number, b: number], number>>();
    // @ts-expect-error a string is not a number
    add.s('1');
    // @ts-expect-error too many arguments
    add.s(1, 2, 3);
  });

  it('si() takes every argument and is immutable', () => {
    expectTypeOf(add.si(1, 2)).toEqualTypeOf<Signature<[], number, true>>();
    // @ts-expect-error si needs every argument
    add.si(1);
  });

  it('delay on a signature takes the remaining arguments', () => {
    expectTypeOf(add.s(1).delay).parameters.toEqualTypeOf<[b: number]>();
    expectTypeOf(add.s(1).delay(2)).resolves.toEqualTypeOf<AsyncResult<number>>();
  });
});

describe('chain', () => {
  it('carries the first element arguments and the last result', () => {
    const c = chain(add.s(1, 2), toText.s(), shout.s());
    expectTypeOf(c.delay).parameters.toEqualTypeOf<[]>();
    expectTypeOf(c.delay()).resolves.toEqualTypeOf<AsyncResult<string, AsyncResult<string>>>();
    expectTypeOf(chain(add.s(1), add.s(2)).delay).parameters.toEqualTypeOf<[b: number]>();
  });

  it('does not compile when a result does not fit the next first argument', () => {
    // @ts-expect-error add gives a number, shout takes a string
    chain(add.s(1, 2), shout.s());
    // @ts-expect-error toText gives a string, add takes numbers
    chain(add.s(1, 2), toText.s(), add.s(1));
    // @ts-expect-error add.s(5) still takes one argument besides the result: no
    chain(add.s(1, 2), add.s());
  });

  it('an immutable element ignores the previous result', () => {
    expectTypeOf(chain(add.s(1, 2), shout.si('x')).delay()).resolves.toEqualTypeOf<
      AsyncResult<string, AsyncResult<number>>
    >();
  });
});

describe('group and chord', () => {
  it('a group gives the tuple of its members results', () => {
    expectTypeOf(group(add.s(1, 1), toText.s(2)).delay()).resolves.toEqualTypeOf<
      GroupResult<[number, string]>
    >();
    expectTypeOf(group([1, 2, 3].map((i) => add.s(i, i))).delay()).resolves.toEqualTypeOf<
      GroupResult<number[]>
    >();
  });

  it('a group nested directly in a group or a chord header unrolls in place', () => {
    expectTypeOf(
      group(group(add.s(1, 1), toText.s(2)), add.s(3, 3)).delay(),
    ).resolves.toEqualTypeOf<GroupResult<[number, string, number]>>();
    expectTypeOf(
      chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], tsum.s()).delay(),
    ).resolves.toEqualTypeOf<AsyncResult<number, GroupResult<[number, number, number]>>>();
    expectTypeOf(chord([group(add.s(1, 1)), toText.s(2)], pair.s()).delay()).resolves.toEqualTypeOf<
      AsyncResult<string, GroupResult<[number, string]>>
    >();
    // @ts-expect-error the unrolled header gives [number, number, number], pair takes [number, string]
    chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], pair.s());
  });

  it('a chord body receives the header results in header order', () => {
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)], tsum.s()).delay()).resolves.toEqualTypeOf<
      AsyncResult<number, GroupResult<[number, number]>>
    >();
    expectTypeOf(chord([add.s(1, 1), toText.s(2)], pair.s()).delay()).resolves.toEqualTypeOf<
      AsyncResult<string, GroupResult<[number, string]>>
    >();
    // @ts-expect-error the header gives numbers, shout takes a string
    chord([add.s(1, 1), add.s(2, 2)], shout.s());
    // @ts-expect-error the header gives [number, number], pair takes [number, string]
    chord([add.s(1, 1), add.s(2, 2)], pair.s());
  });

  it('a settled chord body receives every outcome', () => {
    expectTypeOf(
      chord([add.s(1, 1), add.s(2, 2)], report.s(), { policy: 'settled' }).delay(),
    ).resolves.toEqualTypeOf<AsyncResult<number, GroupResult<[number, number]>>>();
    // @ts-expect-error a settled body gets outcomes, not numbers
    chord([add.s(1, 1), add.s(2, 2)], tsum.s(), { policy: 'settled' });
  });

  it('a chain holds groups and chords', () => {
    const c = chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s());
    expectTypeOf(c.delay()).resolves.toEqualTypeOf<
      AsyncResult<number, GroupResult<[number, number]>>
    >();
  });
});

describe('parents and children', () => {
  it('a chain result knows its parent, a chord result its header, a group its children', async () => {
    const c = await chain(add.s(1, 2), toText.s()).delay();
    expectTypeOf(c.parent).toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(c.parent.get()).resolves.toEqualTypeOf<number>();
    const single = await chain(add.s(1, 2)).delay();
    expectTypeOf(single.parent).toEqualTypeOf<undefined>();
    const ch = await chord([add.s(1, 1), toText.s(2)], pair.s()).delay();
    expectTypeOf(ch.parent.get()).resolves.toEqualTypeOf<[number, string]>();
    expectTypeOf(ch.parent.children).toEqualTypeOf<readonly AsyncResult<unknown>[]>();
    expectTypeOf(c.children()).resolves.toEqualTypeOf<ChildResult[]>();
    expectTypeOf(app.asyncResult('id').parentResult()).resolves.toEqualTypeOf<
      ResultHandle | undefined
    >();
  });
});
