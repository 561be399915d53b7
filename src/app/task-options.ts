/**
 * Options a task is registered with and options a single call is sent with. Types and
 * defaults only.
 */
import type { StandardSchemaV1 } from './standard-schema.js';
import type { SignatureJson, TaskEmbed } from '../protocol/types.js';

/** Anything that serialises to a Celery signature (a `Signature`, a group, a chain, a chord). */
export interface SignatureLike {
  toJSON(): SignatureJson;
}

/** An error class, or a predicate, that decides whether a failure is retried automatically. */
export type RetryMatcher = (new (...args: never[]) => Error) | ((error: unknown) => boolean);

/**
 * A rate: Celery's syntax (`'10/s'`, `'100/m'`, `'1000/h'`; a bare number or `'10'` is
 * per second).
 */
export type Rate = string | number;

/** A rate limit shared by workers (see `TaskOptions.rateLimit`). */
export interface RateLimitOptions<TArgs extends unknown[] = unknown[]> {
  rate: Rate;
  /**
   * `global`: one limit for every worker of every host, kept in the result backend's flow
   * store. `worker`: each worker on its own, as Celery's `rate_limit`. @default 'global'
   */
  scope?: 'global' | 'worker';
  /** Splits the limit per key taken from the task's arguments, e.g. one per customer. */
  key?(...args: TArgs): string;
  /** Tasks that may start at once after a quiet spell. @default 1 (evenly spaced, as Celery) */
  burst?: number;
}

/** A concurrency limit (see `TaskOptions.concurrency`). */
export interface ConcurrencyLimitOptions<TArgs extends unknown[] = unknown[]> {
  /** Runs at once, across every worker (per key when `key` is set). */
  limit: number;
  /** Splits the limit per key taken from the task's arguments; `limit: 1` is a per-key lock. */
  key?(...args: TArgs): string;
  /**
   * Milliseconds a slot is leased for; a running task's worker renews it, so a worker
   * killed outright frees its slots within this time. @default 30000
   */
  leaseMs?: number;
}

/** Debounce (see `TaskOptions.debounce`). */
export interface DebounceOptions<TArgs extends unknown[] = unknown[]> {
  /** Seconds of quiet after the last call before the task runs. */
  delay: number;
  /** Debounces per key taken from the task's arguments (one window per user, say). */
  key?(...args: TArgs): string;
}

/** A throttle (see `TaskOptions.throttle`). */
export interface ThrottleOptions<TArgs extends unknown[] = unknown[]> {
  /** Seconds: at most one run starts per period (per key when `key` is set). */
  period: number;
  /** Throttles per key taken from the task's arguments. */
  key?(...args: TArgs): string;
  /**
   * `drop`: a run due within the period of the last one is not run: it ends REVOKED
   * (TaskRevokedError 'throttled'). `queue`: it waits, outside the slots, for its turn.
   * @default 'drop'
   */
  mode?: 'drop' | 'queue';
}

/** A singleton (see `TaskOptions.singleton`). */
export interface SingletonOptions<TArgs extends unknown[] = unknown[]> {
  /** One run at a time per key taken from the task's arguments; without it, one for the task. */
  key?(...args: TArgs): string;
  /**
   * `wait`: a second run waits, outside the slots, until the first ends. `drop`: it is not
   * run: it ends REVOKED (TaskRevokedError 'singleton'). @default 'wait'
   */
  mode?: 'wait' | 'drop';
  /** Milliseconds the run's slot is leased for (renewed while it runs). @default 30000 */
  leaseMs?: number;
}

/** Fairness between keys (see `TaskOptions.fairness`). */
export interface FairnessOptions<TArgs extends unknown[] = unknown[]> {
  /** The key served round-robin, e.g. the tenant. */
  key(...args: TArgs): string;
}

/**
 * A call's own flow settings (`applyAsync(args, { flow })`), in place of its task's:
 * another key (a string: the call's, not a function of its arguments), another debounce
 * delay, or `false` to skip that limit for this call. Only limits the task declares are
 * applied; a key given for one it does not declare is ignored.
 */
export interface FlowCallOptions {
  debounce?: { key?: string; delay?: number } | false;
  fairness?: { key: string } | false;
  throttle?: { key: string } | false;
  singleton?: { key: string } | false;
  rateLimit?: { key: string } | false;
  concurrency?: { key: string } | false;
}

export interface TaskOptions<TArgs extends unknown[] = unknown[], TResult = unknown> {
  /** Queue this task is sent to unless a call says otherwise. @default the app's defaultQueue */
  queue?: string;
  /** Retries allowed, for automatic and explicit retries. @default 3 */
  maxRetries?: number;
  /**
   * Retry automatically when the task throws one of these (error classes or predicates),
   * with exponential backoff. @example autoretryFor: [NetworkError]
   */
  autoretryFor?: RetryMatcher[];
  /**
   * Base delay of the exponential backoff, in seconds: retry n waits about
   * `retryBackoff * 2^n` (capped by `retryBackoffMax`), randomised when `retryJitter`.
   * @default 1
   */
  retryBackoff?: number;
  /** Longest backoff, in seconds. @default 600 */
  retryBackoffMax?: number;
  /** Randomise the backoff (full jitter) so retries of many tasks spread out. @default true */
  retryJitter?: boolean;
  /** Seconds after which the task's AbortSignal fires with SoftTimeLimitExceededError. */
  softTimeLimit?: number;
  /**
   * Seconds after which the worker stops waiting, records TimeLimitExceeded, frees the slot
   * and ignores the task's later updates. The async pool cannot kill running JavaScript: the
   * abandoned code runs on, and a busy loop blocks the whole worker. Honour `ctx.signal`.
   */
  timeLimit?: number;
  /** Do not store the result (states are still sent to no one). @default false */
  ignoreResult?: boolean;
  /** Record STARTED when a worker begins the task. @default the app's trackStarted */
  trackStarted?: boolean;
  /** Seconds after sending when the task expires and is not run. */
  expires?: number;
  /** Default priority 0..255 (higher first) for calls of this task. */
  priority?: number;
  /**
   * Names of the positional parameters, so keyword arguments sent by Python callers
   * (`kwargs`) are placed in the right positions. Without it, kwargs are refused.
   */
  params?: string[];
  /**
   * Validates the positional arguments before the task runs (any Standard Schema library:
   * zod, valibot). Arguments that fail are refused: FAILURE with ArgumentValidationError,
   * the message dead-lettered, the task never run. The schema's output is what the task gets.
   * @example argsSchema: z.tuple([z.string().email(), z.number().int()])
   */
  argsSchema?: StandardSchemaV1<unknown, TArgs>;
  /**
   * Validates the task's return value before it is stored. A value that fails is not
   * stored: the task ends in FAILURE with ResultValidationError. The schema's output is
   * what is stored.
   * @example resultSchema: z.object({ chargeId: z.string() })
   */
  resultSchema?: StandardSchemaV1<unknown, TResult>;
  /**
   * Rate limit. A rate (`'10/s'`, `'100/m'`, `'1000/h'`) limits each worker on its own,
   * as Celery's `rate_limit`; an object shares it across every worker, or per key. A
   * limited task waits outside the worker's slots, without polling. See docs/flow-control.md.
   * @example rateLimit: { rate: '10/s', key: (customerId) => customerId }
   */
  rateLimit?: Rate | RateLimitOptions<TArgs>;
  /**
   * At most this many running at once across every worker, or per key with an object
   * (`{ limit: 1, key }` is a per-key lock). Slots are leased, so a killed worker's free
   * up. Needs a result backend with a flow store (SQLite, Redis, memory://).
   * @example concurrency: { limit: 1, key: (accountId) => accountId }
   */
  concurrency?: number | ConcurrencyLimitOptions<TArgs>;
  /**
   * Debounce: calls within `delay` seconds of each other (per key) make one run, with the
   * last call's arguments, once `delay` seconds pass with no call. Every call gets the same
   * AsyncResult. Kept in the result backend's flow store. See docs/flow-control.md.
   * @example debounce: { delay: 5, key: (userId) => userId }
   */
  debounce?: DebounceOptions<TArgs>;
  /**
   * At most one run per `period` seconds (per key); a later one is dropped (REVOKED) or
   * queued until its turn, as `mode` says.
   * @example throttle: { period: 60, key: (accountId) => accountId, mode: 'drop' }
   */
  throttle?: ThrottleOptions<TArgs>;
  /**
   * One run at a time (per key): a second waits or is dropped while one runs. `true` is
   * one for the whole task, waiting.
   * @example singleton: { key: (accountId) => accountId, mode: 'drop' }
   */
  singleton?: true | SingletonOptions<TArgs>;
  /**
   * Serves keys round-robin: a key with a large backlog does not delay another key's
   * tasks by more than a few task-times. Calls wait in the flow store per key; each task
   * message a worker takes runs the next key's oldest task.
   * @example fairness: { key: (tenantId) => tenantId }
   */
  fairness?: FairnessOptions<TArgs>;
}

export interface ApplyOptions {
  /** Seconds from now before the task may start. */
  countdown?: number | undefined;
  /** The earliest time the task may start. */
  eta?: Date | undefined;
  /** Seconds from now, or a time, after which the task is not run. */
  expires?: number | Date | undefined;
  /** Your own task id (results are stored under it). Sending one id twice sends two messages. */
  taskId?: string | undefined;
  /**
   * Sends the task once per key: while the key is claimed (from this call for
   * `idempotencyWindow` seconds), a call with the same key and task name sends nothing
   * and returns the first call's AsyncResult, so its result is replayed. Needs a result
   * backend with a flow store (SQLite, Redis, memory://).
   */
  idempotencyKey?: string | undefined;
  /** Seconds an idempotency key holds, from the first call. @default the app's resultExpires */
  idempotencyWindow?: number | undefined;
  /**
   * This call's own flow-control keys and debounce delay, or `false` to skip a limit, in
   * place of what the task declares. @example { flow: { debounce: { key: userId, delay: 2 } } }
   */
  flow?: FlowCallOptions | undefined;
  queue?: string | undefined;
  /** 0..255, higher first where the broker supports priorities. */
  priority?: number | undefined;
  /** Extra message headers, merged flat as Celery does. */
  headers?: Record<string, string | number | boolean | null> | undefined;
  /** Keyword arguments, for tasks (often Python ones) that take them. */
  kwargs?: Record<string, unknown> | undefined;
  softTimeLimit?: number | undefined;
  timeLimit?: number | undefined;
  ignoreResult?: boolean | undefined;
  /** Sent under another name in logs and monitors (Celery's `shadow`). */
  shadow?: string | undefined;
  /** Ids linking this call to a workflow (set by the worker for retries and callbacks). */
  parentId?: string | undefined;
  rootId?: string | undefined;
  groupId?: string | undefined;
  groupIndex?: number | undefined;
  /**
   * Tasks to send with this task's result when it succeeds (Celery's `link`): each gets the
   * result as its first argument unless it is immutable (`si()`).
   * @example add.applyAsync([2, 3], { link: log.s() })
   */
  link?: SignatureLike | readonly SignatureLike[] | undefined;
  /**
   * Tasks to send when this task fails (Celery's `link_error`): each gets the failed task's
   * id as its first argument unless it is immutable.
   */
  linkError?: SignatureLike | readonly SignatureLike[] | undefined;
  /** @internal the workflow embedded in the message (canvas sets it: the chain, the chord body). */
  embed?: Partial<TaskEmbed> | undefined;
  /**
   * Writes the task message inside a transaction you hold open on the broker's own store,
   * so the task exists only if that transaction commits (a rolled-back order sends no
   * email). PostgreSQL broker: a `pg` client (`pg.Client`, `pg.PoolClient`) after `BEGIN`,
   * or the client under Kysely or Drizzle. A broker that cannot honour it refuses with
   * `TransactionalPublishUnsupportedError`.
   * @example
   * await client.query('BEGIN');
   * await client.query('INSERT INTO orders ...');
   * await sendEmail.applyAsync([orderId], { transaction: client });
   * await client.query('COMMIT');
   */
  transaction?: unknown;
  /** @internal retries so far, set by the worker when it re-sends a task. */
  retries?: number | undefined;
}
