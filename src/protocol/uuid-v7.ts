/**
 * UUIDv7 (RFC 9562): a UUID whose first 48 bits are the unix time in ms, so a delivery
 * tag tells when its message was published without any other field (the queues page's
 * oldest message on Redis, whose lists hold the message alone). Still a plain UUID to
 * kombu and Celery, which use the tag as an opaque key. Pure: no I/O.
 */
import { randomBytes } from 'node:crypto';

const V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** A new UUIDv7 for `now` (unix ms): 48 bits of time, version 7, 74 random bits. */
export function uuidV7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  const ms = Math.max(0, Math.floor(now));
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The unix ms a UUIDv7 was made at, or undefined for any other string (a uuid4, Celery's tags). */
export function uuidV7Time(tag: string): number | undefined {
  const match = V7.exec(tag);
  if (!match) return undefined;
  return parseInt(match[1]! + match[2]!, 16);
}
