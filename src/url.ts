/**
 * Small helpers shared by the broker and backend registries: reading a URL's scheme and
 * turning "module not found" for an optional peer into an error that says what to install;
 * and `redactUrl` (in `redact-url.ts`, which the error classes use too), the one function
 * every URL goes through before it reaches a message, a log line or status output.
 */
import { MissingPeerDependencyError } from './errors.js';
import { redactUrl } from './redact-url.js';

export { redactUrl };

export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return (match?.[1] ?? '').toLowerCase();
}

export async function loadOptionalPeer<T>(
  peer: string,
  url: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    const text = String((error as Error).message ?? '');
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      text.includes(`'${peer}'`)
    ) {
      throw new MissingPeerDependencyError(peer, redactUrl(url));
    }
    throw error;
  }
}

/**
 * The store a `memory://` URL names within this process: `memory://` is the default
 * store (''), `memory://other` another one. Query and trailing slash are ignored.
 */
export function memoryStoreName(url: string): string {
  return url
    .replace(/^memory:(\/\/)?/i, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '');
}
