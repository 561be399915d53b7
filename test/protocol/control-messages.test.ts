/**
 * Celery's remote-control and event messages, against what real Python Celery 5.2 wrote on
 * Redis (test/fixtures/celery-control) and the shared wire vectors (celery-wire): decoding
 * reads every captured request, reply and event, and encoding the same values gives back
 * the very envelope text kombu wrote.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  LamportClock,
  MalformedControlMessageError,
  buildEvent,
  decodeControlReply,
  decodeControlRequest,
  decodeEnvelope,
  decodeEventMessage,
  encodeControlReply,
  encodeControlRequest,
  encodeEnvelope,
  encodeEventMessage,
  eventRoutingKey,
  exceptionRepr,
  isAddressedTo,
  pidboxQueue,
  replyQueue,
  resultRepr,
  toPythonJson,
  type CeleryEvent,
  type TransportMessage,
} from '../../src/protocol/index.js';
import { redisEnvelopes } from './wire-vectors.js';

interface Captured {
  command: string;
  channel: string;
  envelope: string;
}
const capture = JSON.parse(
  readFileSync(
    new URL('../fixtures/celery-control/redis-capture-5.2.6.json', import.meta.url),
    'utf8',
  ),
) as Record<string, Captured>;

function entry(name: string): Captured {
  const found = capture[name];
  if (!found) throw new Error(`no captured ${name}`);
  return found;
}
function tagOf(text: string): string {
  return (JSON.parse(text) as { properties: { delivery_tag: string } }).properties.delivery_tag;
}

describe('pidbox requests', () => {
  const requests = Object.keys(capture).filter((name) => name.startsWith('request.'));

  it('reads every request Celery sent, and encodes the same body and envelope back', () => {
    expect(requests.length).toBeGreaterThan(10);
    for (const name of requests) {
      const { envelope, channel } = entry(name);
      expect(channel).toBe('/0.celery.pidbox');
      const message = decodeEnvelope(envelope);
      const request = decodeControlRequest(message);
      expect(request.method).toBe(name.slice('request.'.length));
      const again = encodeControlRequest({
        method: request.method,
        arguments: request.arguments,
        destination: request.destination,
        pattern: request.pattern,
        matcher: request.matcher,
        ticket: request.ticket,
        replyTo: request.replyTo,
        clock: request.clock,
      });
      again.headers.expires = message.headers.expires;
      expect(again.body.toString()).toBe(message.body.toString());
      expect(encodeEnvelope(again, tagOf(envelope))).toBe(envelope);
    }
  });

  it('reads the arguments Celery puts in each command', () => {
    const revoke = decodeControlRequest(decodeEnvelope(entry('request.revoke').envelope));
    expect(revoke.arguments).toEqual({ task_id: 'deadbeef', terminate: false, signal: 'SIGTERM' });
    expect(revoke.replyTo?.exchange).toBe('reply.celery.pidbox');
    expect(revoke.expires).toBeGreaterThan(1.7e9);
    const limit = decodeControlRequest(decodeEnvelope(entry('request.time_limit').envelope));
    expect(limit.arguments).toEqual({ task_name: 'py.add', hard: 20, soft: 10 });
    const query = decodeControlRequest(decodeEnvelope(entry('request.query_task').envelope));
    expect(query.arguments).toEqual({ ids: ['abc'] });
  });

  it('reads the requests of the shared Redis vectors (5.2.6 and 5.6.3)', () => {
    for (const stack of ['celery-5.2.6', 'celery-5.6.3'] as const) {
      const pidbox = redisEnvelopes(stack, 'worker_control.json').filter(
        (e) => e.command === 'PUBLISH' && e.queue.endsWith('celery.pidbox'),
      );
      expect(pidbox.length).toBeGreaterThan(0);
      for (const captured of pidbox) {
        const request = decodeControlRequest(decodeEnvelope(captured.raw));
        expect(request.method).toBe((captured.decodedBody as { method: string }).method);
      }
    }
  });

  it('addresses nodes by destination, then by glob or pcre pattern, else all', () => {
    const base = decodeControlRequest(encodeControlRequest({ method: 'ping' }));
    expect(isAddressedTo(base, 'a@h')).toBe(true);
    expect(isAddressedTo({ ...base, destination: ['b@h'] }, 'a@h')).toBe(false);
    expect(isAddressedTo({ ...base, destination: ['a@h', 'b@h'] }, 'a@h')).toBe(true);
    expect(isAddressedTo({ ...base, pattern: 'a@*', matcher: 'glob' }, 'a@h')).toBe(true);
    expect(isAddressedTo({ ...base, pattern: 'b?h', matcher: 'glob' }, 'a@h')).toBe(false);
    expect(isAddressedTo({ ...base, pattern: '[ab]@h', matcher: 'glob' }, 'a@h')).toBe(true);
    expect(isAddressedTo({ ...base, pattern: 'a.h', matcher: 'glob' }, 'a@h')).toBe(false);
    expect(isAddressedTo({ ...base, pattern: 'a@', matcher: 'pcre' }, 'a@h')).toBe(true);
    expect(isAddressedTo({ ...base, pattern: 'h', matcher: 'pcre' }, 'a@h')).toBe(false);
    expect(isAddressedTo({ ...base, pattern: '(', matcher: 'pcre' }, 'a@h')).toBe(false);
  });

  it('refuses what is not a request with one clear error', () => {
    const bad = (body: string, contentType = 'application/json'): TransportMessage => ({
      body: Buffer.from(body),
      contentType,
      contentEncoding: 'utf-8',
      headers: {},
      properties: {},
    });
    expect(() => decodeControlRequest(bad('{"arguments": {}}'))).toThrow(/no "method"/);
    expect(() => decodeControlRequest(bad('[1]'))).toThrow(MalformedControlMessageError);
    expect(() => decodeControlRequest(bad('{'))).toThrow(/not valid JSON/);
    expect(() => decodeControlRequest(bad('{}', 'application/x-python-serialize'))).toThrow(
      /only JSON/,
    );
    expect(() => decodeControlRequest(bad('{"method": "ping", "destination": "a@h"}'))).toThrow(
      /destination/,
    );
  });

  it('names the queues as kombu does', () => {
    expect(pidboxQueue('py1@cap')).toBe('py1@cap.celery.pidbox');
    expect(replyQueue('c5baf5aa')).toBe('c5baf5aa.reply.celery.pidbox');
  });
});

describe('pidbox replies', () => {
  it('encodes every reply byte for byte as the Python worker did', () => {
    const replies = Object.keys(capture).filter((name) => name.startsWith('reply.'));
    expect(replies.length).toBeGreaterThan(10);
    for (const name of replies) {
      const { envelope } = entry(name);
      const message = decodeEnvelope(envelope);
      const reply = decodeControlReply(message);
      expect(reply.hostname).toBe('py1@cap');
      const info = message.properties.delivery_info!;
      const again = encodeControlReply(reply, {
        exchange: info.exchange,
        routingKey: info.routing_key,
      });
      // `stats` holds floats Python writes as 120.0 (a JSON number JavaScript cannot tell from 120).
      if (name === 'reply.stats') expect(decodeControlReply(again)).toEqual(reply);
      else expect(encodeEnvelope(again, tagOf(envelope))).toBe(envelope);
    }
  });

  it('reads a ping reply', () => {
    const reply = decodeControlReply(decodeEnvelope(entry('reply.ping').envelope));
    expect(reply).toMatchObject({ hostname: 'py1@cap', value: { ok: 'pong' } });
    expect(reply.ticket).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('events', () => {
  it('reads a batched task.multi message and writes it back unchanged', () => {
    const { envelope, channel } = entry('event.task.multi');
    expect(channel).toBe('/0.celeryev/task.multi');
    const message = decodeEnvelope(envelope);
    const events = decodeEventMessage(message);
    expect(events.map((event) => event.type)).toEqual([
      'task-received',
      'task-started',
      'task-succeeded',
    ]);
    expect(events[2]).toMatchObject({ result: '5', hostname: 'py1@cap' });
    const again = encodeEventMessage(events, 'py1@cap');
    expect(again.routingKey).toBe('task.multi');
    expect(encodeEnvelope(again.message, tagOf(envelope))).toBe(envelope);
  });

  it('writes an event in the key order Celery writes it', () => {
    const sent = decodeEventMessage(decodeEnvelope(entry('event.task.sent').envelope))[0]!;
    const { hostname, pid, clock, timestamp, type, utcoffset: _o, ...fields } = sent;
    const built = buildEvent(type, fields, { hostname, pid: pid!, clock: clock!, timestamp });
    built.utcoffset = sent.utcoffset!;
    expect(toPythonJson(built as never)).toBe(toPythonJson(sent as never));
    const single = encodeEventMessage(built, hostname);
    expect(single.routingKey).toBe('task.sent');
    const captured = entry('event.task.sent').envelope;
    expect(encodeEnvelope(single.message, tagOf(captured))).toBe(captured);
  });

  it('reads worker events with the fields monitors use', () => {
    const [beat] = decodeEventMessage(decodeEnvelope(entry('event.worker.heartbeat').envelope));
    expect(beat).toMatchObject({
      type: 'worker-heartbeat',
      hostname: 'py1@cap',
      freq: 2,
      active: 0,
      processed: 0,
      sw_ident: 'py-celery',
    });
    expect((beat as CeleryEvent).loadavg).toHaveLength(3);
  });

  it('routes events as Celery does and writes reprs as Python does', () => {
    expect(eventRoutingKey('task-succeeded')).toBe('task.succeeded');
    expect(eventRoutingKey('worker-heartbeat')).toBe('worker.heartbeat');
    expect(exceptionRepr('ValueError', 'boom')).toBe("ValueError('boom')");
    expect(exceptionRepr('KeyError', '')).toBe('KeyError()');
    expect(resultRepr(5)).toBe('5');
    expect(resultRepr({ a: [1, 'x'] })).toBe("{'a': [1, 'x']}");
    expect(resultRepr(undefined)).toBe('None');
  });

  it('keeps the Lamport clock rules', () => {
    const clock = new LamportClock();
    expect(clock.forward()).toBe(1);
    expect(clock.adjust(10)).toBe(11);
    expect(clock.adjust(3)).toBe(12);
  });
});
