/**
 * An AMQP URL read the way kombu reads it (`amqp://user:pass@host:port/vhost`, `//` meaning
 * the vhost `/`), so a Celery user's URL works unchanged; shared by the AMQP broker and the
 * rpc:// backend. Pure: no I/O. Must never put a password in an error message.
 */
import type * as Amqplib from 'amqplib';
import { CeleriacError } from '../../errors.js';
import { redactUrl } from '../../url.js';

export class InvalidAmqpOptionsError extends CeleriacError {}

/** Reads an `amqp://` or `amqps://` URL as kombu does. */
export function parseAmqpUrl(url: string, heartbeatSeconds: number): Amqplib.Options.Connect {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidAmqpOptionsError(
      `"${redact(url)}" is not a valid AMQP URL: use amqp://user:pass@host:5672/vhost.`,
    );
  }
  const protocol = parsed.protocol.replace(/:$/, '').toLowerCase();
  if (protocol !== 'amqp' && protocol !== 'amqps') {
    throw new InvalidAmqpOptionsError(
      `"${redact(url)}" is not an AMQP URL: it must start with amqp:// or amqps://.`,
    );
  }
  // kombu: everything after the first "/" is the vhost, URL-decoded; none means "/".
  const rawPath = parsed.pathname.startsWith('/') ? parsed.pathname.slice(1) : parsed.pathname;
  const vhost = rawPath === '' ? '/' : decodeURIComponent(rawPath);
  const heartbeat = parsed.searchParams.get('heartbeat');
  return {
    protocol,
    hostname: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : protocol === 'amqps' ? 5671 : 5672,
    username: parsed.username ? decodeURIComponent(parsed.username) : 'guest',
    password: parsed.password ? decodeURIComponent(parsed.password) : 'guest',
    vhost,
    heartbeat: heartbeat !== null ? Number(heartbeat) : heartbeatSeconds,
    locale: 'en_US',
  };
}

/** The URL with its credentials hidden, for messages and logs (the project's one `redactUrl`). */
export function redact(url: string): string {
  return redactUrl(url);
}
