/**
 * Hides the credentials in a broker or backend URL so it can go into an error, a log line
 * or status output: the password of the user-info part (`redis://:pw@`, `amqp://user:pw@`,
 * `unix://:pw@/path`) and the value of every query parameter that carries a secret
 * (`?password=`, `?sentinel_password=`, `?sslpassword=`, tokens). Re-exported by `url.ts`.
 * Must never import anything (the error classes use it) and never throw: it is called
 * while reporting other failures, on strings that may not be URLs at all.
 */

/** Query parameters whose value is a secret, by name (case-insensitive). */
const SECRET_PARAM = /pass|pwd|secret|token|credential|^auth$|api_?key/i;

const HIDDEN = '***';

/**
 * The URL with its secrets replaced by `***`; everything else is kept as written, so the
 * host, port, database and other parameters still show what was meant.
 * @example redactUrl('redis://app:s3cret@cache:6379/0?password=s3cret') // 'redis://app:***@cache:6379/0?password=***'
 */
export function redactUrl(url: string): string {
  return redactQuery(redactUserInfo(url));
}

function redactUserInfo(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  const start = scheme ? scheme[0].length : 0;
  // For a URL that parses, user info ends at the last '@' before the query, as the WHATWG
  // parser (which the drivers use) reads it. For one that does not (a password with an
  // unescaped '/', '?' or '#' in it, the usual reason), hide up to the last '@' of all: too
  // much hidden in an error message costs nothing, a password shown costs a lot.
  let end = url.length;
  if (parses(url)) {
    const query = url.slice(start).search(/[?#]/);
    if (query >= 0) end = start + query;
  }
  const at = url.lastIndexOf('@', end - 1);
  if (at < start) return url;
  const userInfo = url.slice(start, at);
  const colon = userInfo.indexOf(':');
  // A user name alone is not a secret (every driver here reads it as the user).
  if (colon < 0 || colon === userInfo.length - 1) return url;
  return `${url.slice(0, start)}${userInfo.slice(0, colon + 1)}${HIDDEN}${url.slice(at)}`;
}

function redactQuery(url: string): string {
  const question = url.indexOf('?');
  if (question < 0) return url;
  const hash = url.indexOf('#', question);
  const queryEnd = hash < 0 ? url.length : hash;
  const query = url
    .slice(question + 1, queryEnd)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals < 0 || equals === pair.length - 1) return pair;
      return SECRET_PARAM.test(decodeName(pair.slice(0, equals)))
        ? `${pair.slice(0, equals + 1)}${HIDDEN}`
        : pair;
    })
    .join('&');
  return `${url.slice(0, question + 1)}${query}${url.slice(queryEnd)}`;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}
