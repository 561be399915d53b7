/**
 * The one place that loads amqplib at run time, for the AMQP broker and the rpc:// backend.
 * Every other file imports amqplib for its types only.
 *
 * Why a loader: py-amqp (Python Celery's client) writes integers beyond 32 bits in a header
 * table with the tag `L` (signed 64-bit), which amqplib 2.x cannot decode: it drops the
 * whole connection with `Unexpected type tag "L"`, the message goes back to the queue, and
 * the next delivery drops it again, a poison loop. Before amqplib's frame decoder first
 * loads, we wrap its property decoder so the tag `L` is read as amqplib's `l`, which has
 * the same layout (8 bytes, signed, big-endian). Nothing else is changed, and a table
 * amqplib could read before reads the same.
 *
 * Must never change what amqplib encodes, and must never throw when amqplib's internals
 * differ from what it expects: it then leaves amqplib as it is.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Amqplib from 'amqplib';

const require = createRequire(import.meta.url);

/** AMQP class id of `basic`: content headers of messages carry it. */
const BASIC_CLASS_ID = 60;
/** Property flag bits of basic content headers that come before `headers`, and `headers`. */
const FLAG_CONTENT_TYPE = 0x8000;
const FLAG_CONTENT_ENCODING = 0x4000;
const FLAG_HEADERS = 0x2000;

type Decode = (id: number, buffer: Buffer) => unknown;

/** Whether the `L` tag is readable: false when amqplib was loaded elsewhere before us. */
export let pyAmqpLongTagSupported = false;

function installLongTagFix(): void {
  let amqplibDir: string;
  try {
    amqplibDir = path.dirname(require.resolve('amqplib'));
  } catch {
    return; // Not installed: the import below fails with the registry's clear error.
  }
  const framePath = path.join(amqplibDir, 'lib', 'frame.js');
  // frame.js copies `defs.decode` when it loads; once loaded, a wrapper would go unseen.
  if (require.cache[framePath]) {
    const defs = require.cache[path.join(amqplibDir, 'lib', 'defs.js')]?.exports as
      { __celeriacLongTag?: boolean } | undefined;
    pyAmqpLongTagSupported = defs?.__celeriacLongTag === true;
    if (!pyAmqpLongTagSupported) {
      process.emitWarning(
        'amqplib was loaded before celeriac/amqp, so a header Python Celery writes as a 64-bit integer ' +
          '(tag L) will close the AMQP connection. Import celeriac/amqp before amqplib to avoid it.',
        { code: 'CELERIAC_AMQPLIB_ORDER' },
      );
    }
    return;
  }
  let defs: { decode?: Decode; __celeriacLongTag?: boolean };
  try {
    defs = require(path.join(amqplibDir, 'lib', 'defs.js')) as typeof defs;
  } catch {
    return;
  }
  if (defs.__celeriacLongTag) {
    pyAmqpLongTagSupported = true;
    return;
  }
  const original = defs.decode;
  if (typeof original !== 'function') return;
  defs.decode = (id: number, buffer: Buffer): unknown => {
    if (id === BASIC_CLASS_ID) rewriteLongTags(buffer);
    return original(id, buffer);
  };
  defs.__celeriacLongTag = true;
  pyAmqpLongTagSupported = true;
}

/** Rewrites `L` tags to `l` in the headers table of encoded basic properties, in place. */
export function rewriteLongTags(properties: Buffer): void {
  try {
    const flags = properties.readUInt16BE(0);
    if ((flags & FLAG_HEADERS) === 0) return;
    let offset = 2;
    if (flags & FLAG_CONTENT_TYPE) offset += 1 + properties.readUInt8(offset);
    if (flags & FLAG_CONTENT_ENCODING) offset += 1 + properties.readUInt8(offset);
    const length = properties.readUInt32BE(offset);
    const end = offset + 4 + length;
    // No byte 'L' anywhere in the table (Celeriac's and most Celery messages): no tag to
    // rewrite, and a native byte search costs far less than walking every entry.
    const found = properties.indexOf(0x4c, offset + 4);
    if (found === -1 || found >= end) return;
    walkTable(properties, offset + 4, end);
  } catch {
    // A table we cannot walk is left for amqplib to judge, exactly as before.
  }
}

function walkTable(buffer: Buffer, start: number, end: number): void {
  let offset = start;
  while (offset < end) {
    offset += 1 + buffer.readUInt8(offset); // key: shortstr
    offset = walkValue(buffer, offset);
  }
}

function walkArray(buffer: Buffer, start: number, end: number): void {
  let offset = start;
  while (offset < end) offset = walkValue(buffer, offset);
}

/** Returns the offset after the tagged value at `offset`; throws on a tag it does not know. */
function walkValue(buffer: Buffer, offset: number): number {
  const tag = String.fromCharCode(buffer.readUInt8(offset));
  const at = offset + 1;
  switch (tag) {
    case 'L':
      buffer.writeUInt8('l'.charCodeAt(0), offset);
      return at + 8;
    case 'V':
      return at;
    case 't':
    case 'b':
    case 'B':
      return at + 1;
    case 's':
    case 'u':
    case 'U':
      return at + 2;
    case 'I':
    case 'i':
    case 'f':
      return at + 4;
    case 'D':
      return at + 5;
    case 'l':
    case 'd':
    case 'T':
      return at + 8;
    case 'S':
    case 'x':
      return at + 4 + buffer.readUInt32BE(at);
    case 'F': {
      const length = buffer.readUInt32BE(at);
      walkTable(buffer, at + 4, at + 4 + length);
      return at + 4 + length;
    }
    case 'A': {
      const length = buffer.readUInt32BE(at);
      walkArray(buffer, at + 4, at + 4 + length);
      return at + 4 + length;
    }
    default:
      throw new Error(`unknown field tag ${tag}`);
  }
}

installLongTagFix();

/** amqplib's promise API, loaded after the fix above. */
export const amqplib = require('amqplib') as typeof Amqplib;
