/**
 * Turns a `postgres://` / `postgresql://` URL into what the PostgreSQL driver and its
 * callers need: the connection string for `pg` (less Celeriac's own parameters) and the
 * schema every table lives in. Shared by the broker, the result backend and the beat
 * store. Pure: must never open a connection.
 *
 *   postgres://user:pw@host:5432/db                     tables in schema "celeriac"
 *   postgresql://host/db?schema=jobs                    tables in schema "jobs"
 *   postgres://host/db?application_name=shop-worker     passed to pg as is (pg_stat_activity)
 */
import { CeleriacError } from '../../errors.js';
import { redactUrl } from '../../url.js';

export const DEFAULT_SCHEMA = 'celeriac';

export interface PostgresLocation {
  /** The URL as `pg` reads it: Celeriac's own query parameters (`schema`) removed. */
  readonly connectionString: string;
  /** The schema the tables are created in (created when missing). */
  readonly schema: string;
}

export class InvalidPostgresUrlError extends CeleriacError {
  constructor(url: string, why: string) {
    super(
      `Invalid PostgreSQL URL "${redactUrl(url)}": ${why}. Use postgres://user:password@host:5432/database, ` +
        `with ?schema=<name> to pick the schema Celeriac's tables live in (default "${DEFAULT_SCHEMA}").`,
    );
  }
}

export function parsePostgresUrl(url: string): PostgresLocation {
  if (!/^postgres(ql)?:\/\//i.test(url))
    throw new InvalidPostgresUrlError(url, 'it must start with postgres:// or postgresql://');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidPostgresUrlError(url, 'it does not parse as a URL');
  }
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_SCHEMA;
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema))
    throw new InvalidPostgresUrlError(
      url,
      `the schema "${schema}" is not a plain identifier (letters, digits, _ and $, at most 63)`,
    );
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

/** `"schema"."name"`: identifiers are checked or derived from checked parts, never user values. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table prefix from a key prefix: letters, digits and `_` only. */
export function tablePrefix(keyPrefix: string | undefined): string {
  return (keyPrefix ?? '').replace(/[^A-Za-z0-9_]/g, '_');
}
