/**
 * Type-level helpers of the canvas: partial arguments (`s(1)` of a `(a, b)` task leaves
 * `(b)`), and the chain check (each element takes the previous result as its first and
 * only remaining argument, unless it is immutable). Types only.
 */
import type { CanvasSignature } from './canvas-signature.js';

/** Every prefix of an argument tuple: `[]`, `[A]`, `[A, B]` ... for `[A, B, ...]`. */
export type PrefixOf<T extends unknown[]> = number extends T['length']
  ? T
  : T extends []
    ? []
    : T extends [infer H, ...infer R]
      ? [] | [H, ...PrefixOf<R>]
      : T extends [(infer H)?, ...infer R]
        ? [] | [H?, ...PrefixOf<R>]
        : T;

/** The arguments left once `N` are given. */
export type DropArgs<
  T extends unknown[],
  N extends number,
  Given extends unknown[] = [],
> = Given['length'] extends N
  ? T
  : number extends T['length']
    ? T
    : T extends [unknown, ...infer R]
      ? DropArgs<R, N, [...Given, unknown]>
      : T extends [unknown?, ...infer R]
        ? DropArgs<R, N, [...Given, unknown]>
        : T;

/** The arguments a canvas element still takes. */
export type CanvasArgs<S> = S extends CanvasSignature<infer A, unknown, boolean> ? A : never;
/** The result a canvas element gives (a group: the tuple of its members' results). */
export type CanvasResult<S> = S extends CanvasSignature<unknown[], infer R, boolean> ? R : never;

/** Whether `S` can run with `Prev` as its first argument in a chain (or ignores it). */
export type Accepts<S, Prev> =
  S extends CanvasSignature<infer A, unknown, infer I>
    ? I extends true
      ? true
      : [Prev] extends A
        ? true
        : false
    : false;

/** What the compiler shows where a chain's element does not take the previous result. */
export interface ChainMismatch<Prev, Next> {
  readonly 'the previous result does not fit the first argument of': Next;
  readonly previousResult: Prev;
}

/** The chain with every element checked against the result before it. */
export type CheckedChain<
  S extends readonly unknown[],
  Prev = never,
  First extends boolean = true,
> = S extends readonly [infer H, ...infer R]
  ? [
      First extends true ? H : Accepts<H, Prev> extends true ? H : ChainMismatch<Prev, H>,
      ...CheckedChain<R, CanvasResult<H>, false>,
    ]
  : [];

export type LastOf<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L]
  ? L
  : never;

/** What a group is to the type checker: a phantom marker plus its results (group.ts). */
export interface GroupLike<TResults extends unknown[]> {
  readonly __group: TResults;
}

/**
 * The tuple of results of a group's members, in order, a group nested directly in it
 * unrolled in place (as the members are sent: `group(group(a, b), c)` gives `[A, B, C]`).
 */
export type ResultsOf<S extends readonly unknown[]> = S extends readonly [infer H, ...infer R]
  ? H extends GroupLike<infer G>
    ? [...G, ...ResultsOf<R>]
    : [CanvasResult<H>, ...ResultsOf<R>]
  : S extends readonly []
    ? []
    : S extends readonly (infer T)[]
      ? (T extends GroupLike<infer G> ? G[number] : CanvasResult<T>)[]
      : never;
