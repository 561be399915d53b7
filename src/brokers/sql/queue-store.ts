/**
 * What the SQL brokers (SQLite, PostgreSQL) share: the rows they keep, the settle operations
 * their consumers ask for, and the small interface a dialect's message store implements so
 * one consumer, one lease keeper and one settle batcher serve both. A dialect may answer
 * synchronously (SQLite) or with a promise (PostgreSQL); the shared code awaits only a
 * promise. Knows rows and envelope text; decodes an envelope only to list dead letters.
 * Must never import a database client.
 */
import { randomUUID } from 'node:crypto';
import type { DeadLetterInfo, PublishOptions } from '../broker.js';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/kombu-envelope.js';
import type { TransportMessage } from '../../protocol/types.js';

export type MaybePromise<T> = T | Promise<T>;

/** A row to insert. */
export interface StoredRow {
  queue: string;
  priority: number;
  /** 0 = ready now. */
  deliverAt: number;
  /** 0 = never: past this unix ms the claim dead-letters the row instead of leasing it. */
  expiresAt: number;
  envelope: string;
}

/** A row a claim took: leased to the claim's token, or (`expired`) already moved to the dead letters. */
export interface ClaimedRow {
  id: number;
  queue: string;
  priority: number;
  /** SQLite answers 0 or 1. */
  redelivered: boolean | number;
  envelope: string;
  /** Past its expiry: dead-lettered by the claim itself, never leased. */
  expired: boolean | number;
}

/** One settle operation, run with the others of its turn by `settleBatch`. */
export type SettleOp =
  /**
   * `carried`: a write the dialect's store commits with this ack, opaque here (the
   * PostgreSQL result backend's row); given only to a store whose broker handed it out.
   */
  | { kind: 'ack'; id: number; owner: string; queue: string; carried?: unknown }
  | { kind: 'requeue'; id: number; owner: string; queue: string }
  | { kind: 'dead'; id: number; owner: string; queue: string; reason: string }
  | { kind: 'defer'; id: number; owner: string; queue: string; deliverAt: number }
  | { kind: 'release'; id: number; owner: string; queue: string };

export interface DeadLetterRow {
  id: number;
  queue: string;
  reason: string;
  dead_at: number;
  deliveries: number;
  envelope: string;
}

/** A dead-lettered message as `deadLetters()` lists it. */
export interface DeadLetter {
  id: number;
  queue: string;
  reason: string;
  /** Unix ms. */
  deadAt: number;
  deliveries: number;
  /** The stored kombu envelope, as is (it may be the undecodable text). */
  envelope: string;
  /** The decoded message, when the envelope decodes. */
  message: TransportMessage | undefined;
}

/** The reason an expired row is dead-lettered with; the worker marks its task REVOKED (expired). */
export const EXPIRED_REASON = 'expired before delivery';

/** What the shared consumer, lease keeper and settle batcher need of a dialect's store. */
export interface QueueStore {
  /**
   * Leases up to `limit` ready rows of `queues` to `owner` until `now + leaseMs`, in
   * delivery order (priority, then age), promoting due delayed rows as the dialect sees
   * fit. Rows past their `expiresAt` among them are dead-lettered in the same statement or
   * transaction and come back flagged `expired`, unleased.
   */
  claim(
    queues: readonly string[],
    owner: string,
    limit: number,
    now: number,
    leaseMs: number,
  ): MaybePromise<ClaimedRow[]>;
  /** The earliest time something in `queues` may become claimable (a delayed row, a lease end). */
  nextWakeAt(queues: readonly string[], now: number): MaybePromise<number | undefined>;
  /** Runs settle operations together; returns, per op, whether its lease still held. */
  settleBatch(ops: readonly SettleOp[], now: number): MaybePromise<boolean[]>;
  /** Extends the leases of held rows; returns those whose lease was lost. */
  renew<T extends { id: number; owner: string }>(
    held: readonly T[],
    leaseUntil: number,
  ): MaybePromise<T[]>;
}

/** The row a publish stores: priority clamped, delivery info stamped as kombu does, a fresh delivery tag. */
export function toRow(message: TransportMessage, options: PublishOptions, now: number): StoredRow {
  const priority = Math.max(
    0,
    Math.min(255, Math.round(options.priority ?? message.properties.priority ?? 0)),
  );
  const deliverAt =
    options.deliverAt !== undefined && options.deliverAt > now ? Math.ceil(options.deliverAt) : 0;
  const expiresAt =
    options.expiresAt !== undefined && Number.isFinite(options.expiresAt)
      ? Math.max(1, Math.floor(options.expiresAt))
      : 0;
  return {
    queue: options.queue,
    priority,
    deliverAt,
    expiresAt,
    // The route written into the envelope as it is encoded: no copy of the message first.
    envelope: encodeEnvelope(message, randomUUID(), {
      exchange: '',
      routingKey: options.queue,
      priority,
    }),
  };
}

export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    queue: row.queue,
    reason: row.reason,
    deadAt: row.dead_at,
    deliveries: row.deliveries,
    envelope: row.envelope,
    message: tryDecode(row.envelope),
  };
}

/** A dead letter as the broker contract lists it (the dashboard's view). */
export function toDeadLetterInfo(letter: DeadLetter): DeadLetterInfo {
  return {
    id: String(letter.id),
    queue: letter.queue,
    reason: letter.reason,
    deadAt: letter.deadAt,
    message: letter.message,
  };
}

/** The row ids among the contract's letter ids; anything else names no letter of ours. */
export function deadLetterRowIds(ids: readonly string[]): number[] {
  return ids.map(Number).filter((id) => Number.isSafeInteger(id));
}

function tryDecode(envelope: string): TransportMessage | undefined {
  try {
    return decodeEnvelope(envelope);
  } catch {
    return undefined;
  }
}
