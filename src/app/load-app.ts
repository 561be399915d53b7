/**
 * Loads the user's app from `-A <module>[:<export>]` (the CLI, and each thread or child of
 * a `threads`/`processes` pool): a .ts or .js file (TypeScript runs through tsx, registered
 * by bin/celeriac.js or by the pool's bootstrap) exporting the app as `default` or `app`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Celeriac } from './celeriac.js';
import { CeleriacError } from '../errors.js';

export class AppNotFoundError extends CeleriacError {}

/** The app module was loaded as CommonJS, which cannot import Celeriac (ESM only). */
export class CommonJsAppError extends CeleriacError {}

// What Node says when a CommonJS module reaches an ES module it may not require().
const COMMONJS_CODES = new Set([
  'ERR_REQUIRE_CYCLE_MODULE',
  'ERR_REQUIRE_ESM',
  'ERR_REQUIRE_ASYNC_MODULE',
]);

export async function loadApp(spec: string | undefined, cwd = process.cwd()): Promise<Celeriac> {
  if (!spec)
    throw new AppNotFoundError(
      'No app given: pass -A <module>, e.g. `celeriac -A src/tasks.ts worker`.',
    );
  const [modulePath = spec, exportName] = splitSpec(spec);
  const url = pathToFileURL(path.resolve(cwd, modulePath)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(path.resolve(cwd, modulePath))
    ) {
      throw new AppNotFoundError(`Cannot find the app module "${modulePath}" (from ${cwd}).`);
    }
    if (code !== undefined && COMMONJS_CODES.has(code))
      throw commonJsError(path.resolve(cwd, modulePath), error);
    throw error;
  }
  const candidate = exportName ? module[exportName] : (module.default ?? module.app);
  if (!isApp(candidate)) {
    const wanted = exportName
      ? `an export named "${exportName}"`
      : 'a default export or an export named "app"';
    throw new AppNotFoundError(`"${modulePath}" has no Celeriac app as ${wanted}.`);
  }
  return candidate;
}

function commonJsError(file: string, cause: unknown): CommonJsAppError {
  const manifest = nearestPackageJson(path.dirname(file));
  const where = manifest
    ? `${manifest} has no "type": "module"`
    : 'no package.json says "type": "module"';
  return new CommonJsAppError(
    `"${path.basename(file)}" was loaded as CommonJS (${where}), and Celeriac is ESM only. ` +
      'Run `npm pkg set type=module` in your project (or add "type": "module" to package.json), ' +
      'or rename the file to .mts.',
    { cause },
  );
}

function nearestPackageJson(dir: string): string | undefined {
  for (let at = dir; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'package.json');
    if (existsSync(candidate)) {
      try {
        if ((JSON.parse(readFileSync(candidate, 'utf8')) as { type?: unknown }).type !== 'module')
          return candidate;
      } catch {
        return candidate;
      }
      return undefined;
    }
    if (path.dirname(at) === at) return undefined;
  }
}

function splitSpec(spec: string): [string, string | undefined] {
  // `C:\path` on Windows has a colon too: only a colon after the last path separator splits.
  const colon = spec.lastIndexOf(':');
  const separator = Math.max(spec.lastIndexOf('/'), spec.lastIndexOf('\\'));
  if (colon > separator && colon > 1) return [spec.slice(0, colon), spec.slice(colon + 1)];
  return [spec, undefined];
}

// Duck-typed rather than instanceof: the CLI and the user's module may load two copies of
// the library (built and source), and both must work.
function isApp(value: unknown): value is Celeriac {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Celeriac).getTask === 'function' &&
    typeof (value as Celeriac).broker === 'function'
  );
}
